"""``wlkit sweep``: an Optuna study over a pipeline's values, one wlkit run per trial."""

from __future__ import annotations

import argparse

from wlkit.cli.options import add_overrides, add_quiet, quiet_environment


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep", help="grid or TPE search over pipeline values (Optuna), one run per trial",
        description="One Optuna study per sweep; every trial is an ordinary wlkit run (all "
                    "seeds) in <dir>/trial_<NNN>/, scored by its mean validation metric. "
                    "Running the same command again continues a stopped sweep (finished "
                    "trials are kept, an interrupted one resumes).")
    parser.add_argument("pipeline", nargs="?", help="pipeline YAML file (not with --join)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="grid values of one pipeline key, e.g. --grid "
                             "model.aggregator=sum,lcm,pna (repeatable; one trial per point)")
    parser.add_argument("--random", type=int, metavar="N",
                        help="N trials drawn by Optuna's TPE sampler from --space")
    parser.add_argument("--space", metavar="FILE",
                        help="YAML space for --random: {model.hidden: [64, 128], train.lr: "
                             "{type: float, low: 1e-4, high: 1e-2, log: true}}")
    add_overrides(parser)
    parser.add_argument("--study", metavar="NAME",
                        help="study name (default: the pipeline's name); also the folder "
                             "name under sweeps/")
    parser.add_argument("--storage", metavar="URL",
                        help="SQLAlchemy URL of the study (default: sqlite file study.db in "
                             "the sweep folder); a PostgreSQL URL lets several machines join")
    parser.add_argument("--dir", metavar="DIR",
                        help="sweep folder for trials and results (default: sweeps/<study>)")
    parser.add_argument("--workers", type=int, default=1, metavar="K",
                        help="worker processes on this machine (default 1); 0 only creates "
                             "the study, for machines that then --join")
    parser.add_argument("--join", action="store_true",
                        help="work on an existing study (--study, --storage); the sweep's "
                             "pipeline and grid come from the study")
    parser.add_argument("--prune", choices=("none", "median"), default="none",
                        help="stop trials whose per-epoch validation metric falls below the "
                             "median of earlier trials (Optuna's MedianPruner)")
    parser.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)
    add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with quiet_environment(args.quiet):
        return _sweep(args)


def _sweep(args: argparse.Namespace) -> int:
    from wlkit.errors import WlkitError
    from wlkit.tools import sweep

    if args.workers < 0:
        raise WlkitError(f"--workers {args.workers}: must be >= 0")
    if args.join:
        given = [flag for flag, value in (("PIPELINE", args.pipeline), ("--grid", args.grid),
                                          ("--random", args.random), ("--space", args.space),
                                          ("--set", args.overrides)) if value]
        if given:
            raise WlkitError(f"--join takes the sweep from the study; drop {', '.join(given)}")
        if not args.study:
            raise WlkitError("--join needs --study NAME (and --storage URL unless the study "
                             "is the SQLite file in sweeps/NAME/)")
        spec = None
        name = args.study
    else:
        if not args.pipeline:
            raise WlkitError("wlkit sweep needs a PIPELINE (or --join --study NAME)\n    "
                             "hint: wlkit sweep pipelines/quickstart.yaml --grid "
                             "model.hidden=32,64")
        space = sweep.load_space(args.space) if args.space else {}
        spec = sweep.make_spec(args.pipeline, args.overrides, sweep.parse_grid(args.grid),
                               space, args.random, args.prune)
        name = args.study or sweep.trial_pipeline(spec, {}).name
    sweep_dir = sweep.sweep_folder(name, args.dir)
    storage = args.storage or sweep.default_storage(sweep_dir)
    if not args.storage and args.join and not (sweep_dir / "study.db").is_file():
        raise WlkitError(f"{sweep_dir / 'study.db'}: no such study file\n    hint: pass "
                         "--storage URL (the study's database), or --dir of the sweep folder")
    if not args.storage:
        sweep_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives in it
    sweep.run_sweep(spec, name, storage, sweep_dir, workers=args.workers,
                    progress=not args.quiet, report=not args.no_report)
    return 0
