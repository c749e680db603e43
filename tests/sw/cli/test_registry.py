"""The core registry: the CLI's generate, sim and synth verbs offer exactly its cores."""

import argparse

import pytest

from sw.cli.main import CORE_VERBS, build_parser
from sw.flows.registry import BUILTIN, REGISTRY, Core, Registry, cores


def _choices(p):
    """A parser's sub-commands, name -> parser (argparse keeps them in an action)."""
    p.format_help()  # a core verb adds its cores when it is first used
    action, = (a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _verb_cores(p, verb):
    """The cores ``eiegen VERB`` offers: name -> that core's parser."""
    return _choices(_choices(p)[verb])


def test_builtin_cores_in_cli_order():
    assert [c.name for c in cores()] == list(BUILTIN) == \
        ["mac", "eie", "xnor", "ternary", "winograd", "dense", "network"]


@pytest.mark.parametrize("verb", list(CORE_VERBS))
def test_every_registered_core_has_the_verb(verb):
    assert list(_verb_cores(build_parser(), verb)) == [c.name for c in cores()]


@pytest.mark.parametrize("core", list(BUILTIN))
@pytest.mark.parametrize("verb", list(CORE_VERBS))
def test_verb_core_help(cli, verb, core):
    status, out, _ = cli(verb, core, "--help")
    assert status == 0
    assert out.startswith(f"usage: eiegen {verb} {core} [-h]")
    assert REGISTRY.core(core).help in cli(verb, "--help")[1]


def _toy(calls):
    def options(p, verb):
        p.add_argument("--size", type=int, default=3, help="toy size (default 3)")

    def params(args):
        if args.size < 1:
            raise ValueError(f"toy size must be positive, not {args.size}")
        return {"size": args.size}

    def command(verb):
        return lambda args, params: calls.append((verb, params, args))

    def sim_arguments(p):
        p.add_argument("--inputs", required=True)
        p.add_argument("--out", required=True)

    return Core(name="toy", help="a toy core", options=options, params=params,
                generate=command("generate"), simulate=command("sim"),
                synthesize=command("synth"), sim_arguments=sim_arguments,
                sim_report="R.json: toy figures")


def test_a_registered_core_appears_without_editing_the_cli():
    calls = []
    registry = Registry()
    registry.register(_toy(calls))
    p = build_parser(registry)
    for verb in CORE_VERBS:
        assert list(_verb_cores(p, verb)) == ["toy"]
    assert "a toy core" in _choices(p)["sim"].format_help()

    args = p.parse_args(["generate", "toy", "--size", "5", "--out", "d"])
    args.func(args)
    args = p.parse_args(["sim", "toy", "--inputs", "x.npy", "--out", "y.npy", "--seed", "4"])
    args.func(args)
    args = p.parse_args(["synth", "toy", "--target", "ice40-up5k"])
    args.func(args)
    assert [(verb, params) for verb, params, _ in calls] == \
        [("generate", {"size": 5}), ("sim", {"size": 3}), ("synth", {"size": 3})]
    generate, sim, synth = (args for _, _, args in calls)
    assert generate.out == "d"
    assert (sim.inputs, sim.out, sim.seed, sim.in_stall) == ("x.npy", "y.npy", 4, 0.0)
    assert synth.target == "ice40-up5k" and synth.report is None
    sim_help = _verb_cores(p, "sim")["toy"].format_help()
    assert "R.json: toy figures" in sim_help and "toy size (default 3)" in sim_help


def test_a_toy_core_bad_option_fails_before_its_command():
    calls = []
    registry = Registry()
    registry.register(_toy(calls))
    args = build_parser(registry).parse_args(["generate", "toy", "--size", "0", "--out", "d"])
    with pytest.raises(ValueError, match="^toy size must be positive, not 0$"):
        args.func(args)
    assert calls == []


def test_register_twice():
    registry = Registry()
    registry.register(_toy([]))
    with pytest.raises(ValueError, match="^core 'toy' is already registered$"):
        registry.register(_toy([]))


def test_register_not_a_core():
    with pytest.raises(TypeError, match="^register takes a Core, not 'toy'$"):
        Registry().register("toy")


def test_core_name_wrong():
    with pytest.raises(ValueError, match="^core name must be a lowercase word, not 'Toy Core'$"):
        Core(name="Toy Core", **{k: v for k, v in vars(_toy([])).items() if k != "name"})


def test_command_verb_wrong():
    with pytest.raises(ValueError, match="^verb must be generate, sim or synth, not 'build'$"):
        _toy([]).command("build")


def test_unknown_core():
    with pytest.raises(LookupError, match="^no core 'nope'; the cores are toy$"):
        registry = Registry()
        registry.register(_toy([]))
        registry.core("nope")


def test_builtin_module_must_register_its_core():
    registry = Registry({"ghost": "sw.flows.toolchain"})
    with pytest.raises(LookupError, match="^sw.flows.toolchain does not register core 'ghost'$"):
        registry.core("ghost")


def test_cli_help_imports_no_flow_module():
    # eiegen --help must not wait for the cores' flow modules (Amaranth generators).
    import subprocess
    import sys
    code = ("import sys; from sw.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in " + repr(sorted(BUILTIN.values())) + " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
