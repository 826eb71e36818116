"""``wlkit separate``: which WL-suite pairs a pipeline's model separates."""

from __future__ import annotations

import argparse

from wlkit.cli.options import add_overrides, add_quiet


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("separate", help="which WL-suite pairs a pipeline's model "
                                   "separates, next to the exact WL oracles (BREC-style T² "
                                   "test)")
    parser.add_argument("pipeline", help="pipeline YAML file (its dataset is ignored)")
    parser.add_argument("--suite", required=True, metavar="NAME",
                        help="classic, csl, cfi, sr, dr, 4vtx, regular (generated); exp, cexp, "
                        "sr25, brec (files; csl too with --root); any registered suite; or all "
                        "(every generated suite and every file suite found under --root or "
                        "$WLKIT_WL_DATA, in one report)")
    parser.add_argument("--root", metavar="DIR", help="folder holding the suite's files "
                        "(with --suite all: the folder holding EXP/, CEXP/, CSL/, SR25/, "
                        "BREC/, like $WLKIT_WL_DATA)")
    parser.add_argument("--out", help="output folder (default: "
                        "runs/<name>/separate_<suite>_<UTC time>/)")
    parser.add_argument("--trained", action="store_true",
                        help="BREC's short per-pair siamese training before the test")
    parser.add_argument("--relabelings", type=int, default=32, metavar="R",
                        help="random relabelings per graph (default 32)")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="T² threshold (default: from the F distribution, 72.34 at "
                        "output dim 16 and R=32)")
    parser.add_argument("--output-dim", type=int, default=16, metavar="Q",
                        help="model outputs the test runs on (default 16)")
    parser.add_argument("--float64", action="store_true",
                        help="run the model and its inputs in float64 (for differences "
                        "below float32's rounding floor; slower)")
    parser.add_argument("--no-float64-retest", dest="retest_float64", action="store_false",
                        help="keep float32's verdicts: by default, untrained pairs that float32 "
                        "leaves unseparated although the reference oracle separates them are "
                        "decided again in float64 (so float32's rounding floor never hides a "
                        "separation)")
    parser.add_argument("--redraws", type=int, default=2, metavar="N",
                        help="float64 re-test: pairs an exact oracle separates that the same "
                        "weights miss are decided by up to N fresh weight draws (default 2, "
                        "Bonferroni-corrected level; 0: off)")
    parser.add_argument("--workers", type=int, default=None, metavar="K",
                        help="processes embedding the suite's graphs (default: every CPU "
                        "this process may use; verdicts do not depend on it)")
    parser.add_argument("--batch-size", type=int, default=96, metavar="B",
                        help="relabelled graphs prepared and embedded at once (default 96; "
                        "lower it for policies with large prepared tensors)")
    parser.add_argument("--batch-elements", type=int, default=1 << 15, metavar="N",
                        help="at most N elements per embedding forward pass (nodes, edges "
                        "and the policy's prepared entries; default 32768): keeps "
                        "activations small enough to reuse memory; 0: no bound (the "
                        "embeddings do not depend on it beyond rounding; --trained steps "
                        "are never split)")
    parser.add_argument("--tol", type=float, default=None, metavar="TOL",
                        help="relative rounding floor of the test (default 1e-5, ~100x "
                        "float32's resolution; 1e-13 with --float64): differences below "
                        "TOL x the output scale "
                        "cannot separate; lower it to probe tiny but consistent differences "
                        "(the reliability control then guards against rounding noise)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights and relabelings")
    parser.add_argument("--pairs", default=None, metavar="ID,...",
                        help="only these pairs, by id (e.g. the ones a run missed)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N pairs (of each suite with --suite all)")
    add_overrides(parser)
    add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.errors import WlkitError
    from wlkit.pipeline import load_pipeline
    from wlkit.tools.separate import ALL_SUITES, SeparateSettings, run_separate, run_separate_all

    for flag, value, low in (("--relabelings", args.relabelings, 2),
                             ("--output-dim", args.output_dim, 1),
                             ("--limit", args.limit, 1),
                             ("--batch-size", args.batch_size, 1),
                             ("--batch-elements", args.batch_elements, 0),
                             ("--redraws", args.redraws, 0),
                             ("--workers", args.workers, 1)):
        if value is not None and value < low:
            raise WlkitError(f"{flag} must be >= {low}, got {value}")
    if args.tol is not None and not args.tol > 0:
        raise WlkitError(f"--tol must be > 0, got {args.tol}\n    hint: e.g. --tol 1e-7")
    pair_ids = None
    if args.pairs is not None:
        pair_ids = tuple(p.strip() for p in args.pairs.split(",") if p.strip())
        if not pair_ids:
            raise WlkitError("--pairs needs at least one pair id\n    hint: e.g. "
                             "--pairs exp_500,exp_503 (ids as in separation.json)")
    pipeline = load_pipeline(args.pipeline, args.overrides)
    settings = SeparateSettings(relabelings=args.relabelings, output_dim=args.output_dim,
                                threshold=args.threshold, seed=args.seed, tol=args.tol,
                                dtype="float64" if args.float64 else "float32",
                                batch_size=args.batch_size, trained=args.trained,
                                batch_elements=args.batch_elements or None,
                                limit=args.limit, pair_ids=pair_ids,
                                retest_float64=args.retest_float64,
                                redraws=args.redraws, workers=args.workers)
    if args.suite == ALL_SUITES:
        run_separate_all(pipeline, root=args.root, out=args.out, settings=settings,
                         progress=not args.quiet)
        return 0
    run_separate(pipeline, args.suite, root=args.root, out=args.out, settings=settings,
                 progress=not args.quiet)
    return 0
