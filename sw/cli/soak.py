"""``eiegen soak``: random configurations, data and stalls on every core against
the golden models (``sw.soak``); ``--replay`` runs one failed case again."""

import secrets

from sw.cli.common import (_option_type, check_writable, integer, number, output_file,
                           progress, write_json)
from sw.errors import EiegenError

__all__ = ["add_soak_verb"]


def _case(text):
    from sw.soak import Case
    return Case.parse(text)


def add_soak_verb(verbs):
    from sw.soak import SOAKERS, SPACES
    p = verbs.add_parser(
        "soak",
        help="random configurations, data and stalls on every core against the golden models")
    p.add_argument("--minutes", type=number(above=0),
                   help="run until this much time has passed (the case running then finishes)")
    p.add_argument("--configs", type=integer(1),
                   help="configurations a core (default: 1, or as many as --minutes allows)")
    p.add_argument("--cases", type=integer(1),
                   help="cases a configuration, each new data and stalls (default: the core's, "
                        "4 to 6; 1 for an engine with the model baked in)")
    p.add_argument("--core", action="append", choices=list(SOAKERS),
                   help="a core to soak, repeatable (default all)")
    p.add_argument("--space", choices=SPACES, default="wide",
                   help="wide: every parameter drawn (default); ci: the few configurations "
                        "the test suite soaks")
    p.add_argument("--seed", type=integer(0),
                   help="seed of the configurations and cases drawn (default: a new one, "
                        "printed)")
    p.add_argument("--replay", type=_option_type("case", _case), metavar="CASE",
                   help="run the one case CORE:SPACE:CONFIG:DATA a failure printed")
    p.add_argument("--report", type=output_file,
                   help="R.json: configurations, cases, samples, outputs, mismatches, failures")
    p.set_defaults(func=cmd_soak)


def cmd_soak(args):
    from sw import soak
    check_writable(args.report)
    if args.replay is not None:
        given = [flag for flag, value in (("--minutes", args.minutes), ("--configs", args.configs),
                                          ("--cases", args.cases), ("--core", args.core),
                                          ("--seed", args.seed)) if value is not None]
        if given:
            raise EiegenError(f"--replay runs the one case it names: drop {', '.join(given)}")
        tally = soak.Tally()
        progress(f"replaying {args.replay}: {soak.describe(soak.case_config(args.replay))}")
        soak.run_logged(args.replay, tally, progress)
    else:
        seed = secrets.randbelow(1 << 31) if args.seed is None else args.seed
        progress(f"soak seed {seed} (--seed {seed} draws the same cases), {args.space} space")
        tally = soak.soak(args.core, seed=seed, space=args.space, configs=args.configs,
                          minutes=args.minutes, cases=args.cases, say=progress)
    t = tally.totals()
    if args.report:
        write_json(args.report, tally.report())
    progress(f"soak: {t['configs']} configurations, {t['cases']} cases, {t['samples']} samples, "
             f"{t['outputs']} outputs, {t['mismatches']} mismatches, {t['failures']} failed "
             f"cases, {t['seconds']:.0f} s")
    for core, c in tally.report()["cores"].items():
        progress(f"  {core}: {c['configs']} configurations, {c['cases']} cases, "
                 f"{c['samples']} samples, {c['outputs']} outputs, {c['mismatches']} mismatches")
    if tally.failures:
        case, reason = tally.failures[0]
        raise EiegenError(f"{len(tally.failures)} of {t['cases']} cases failed; the first, "
                          f"{case} ({reason}), replays with: {case.replay()}")
