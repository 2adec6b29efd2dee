"""scikit-learn's estimator conventions (``get_params``/``set_params``, a readable ``repr``) without it."""

from __future__ import annotations


class ParamsMixin:
    """``get_params`` / ``set_params`` from the ``__init__`` signature, as scikit-learn's ``BaseEstimator``.

    Kept local so that importing the package does not import scikit-learn (a second at every
    CLI start); ``sklearn.base.clone`` works on these estimators all the same.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        import inspect

        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict[str, object]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: object) -> ParamsMixin:
        names = set(self._param_names())
        for key, value in params.items():
            if key not in names:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
