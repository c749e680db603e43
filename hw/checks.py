"""The one check of an integer parameter, shared by every generator's constructor
and configuration, so that each refuses a value out of range with the same
message: what it is, its range, the value, and the option that sets it."""

__all__ = ["check_int"]


def check_int(name, value, low, high, option):
    """``ValueError`` unless ``value`` is an integer (not a bool) in [low, high].

    The message names the parameter, its range, the value given and the
    command-line ``option`` that sets it:
    ``lane count must be an integer from 1 to 256, not 0 (option --lanes)``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r} "
                         f"(option {option})")
