"""Advice: the limit each unit should have, the verdict on the one in force, and the patches.

``policy`` (how a limit is chosen and judged), ``limits`` (the limits in force), ``recommend``
(every unit's recommendation), ``layers`` (nested limits made consistent), ``result`` (what
recommend answers, and its JSON), ``workflows`` (``timeout-minutes`` in workflow YAML), ``patch``
(rewriting a checkout) and ``backtest`` (replaying history under each policy). Pure but for
``patch``'s reading and writing of the checkout it is given.
"""

from analyzer.advise.backtest import POLICIES, BacktestResult, default_split, run_backtest
from analyzer.advise.limits import CurrentLimit, current_limits, logged_limits
from analyzer.advise.patch import FileEdit, PatchPlan, patch_checkout, plan_source_patches, plan_workflow_patches
from analyzer.advise.policy import VERDICTS, Policy, quantile_label, round_limit
from analyzer.advise.recommend import RECOMMEND_COLUMNS, recommend_limits
from analyzer.advise.result import LayerWarning, Recommendation, RecommendResult, recommendation_dict
from analyzer.advise.workflows import WorkflowSpec, choose_specs, parse_workflow

__all__ = [
    "POLICIES",
    "RECOMMEND_COLUMNS",
    "VERDICTS",
    "BacktestResult",
    "CurrentLimit",
    "FileEdit",
    "LayerWarning",
    "PatchPlan",
    "Policy",
    "RecommendResult",
    "Recommendation",
    "WorkflowSpec",
    "choose_specs",
    "current_limits",
    "default_split",
    "logged_limits",
    "parse_workflow",
    "patch_checkout",
    "plan_source_patches",
    "plan_workflow_patches",
    "quantile_label",
    "recommend_limits",
    "recommendation_dict",
    "round_limit",
    "run_backtest",
]
