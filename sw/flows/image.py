"""What the engines' memory images share: an engine fitted to a model, and the
refusal of a model that does not fit, naming the option that makes room."""

__all__ = ["fit_config", "check_room"]


def fit_config(config_class, fit, overrides):
    """``config_class(**fit)`` with ``overrides`` taking precedence, validated."""
    return config_class(**{**fit, **overrides}).validate()


def check_room(what, need, have, option):
    """Refuse a model that needs more than the engine has.

    Raises ``ValueError("WHAT, over the engine's HAVE: raise --OPTION")``,
    ``what`` formatted with ``need``, when ``need`` is over ``have``.
    """
    if need > have:
        raise ValueError(f"{what.format(need)}, over the engine's {have}: raise --{option}")
