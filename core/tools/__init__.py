"""The tools room: commands that use the engine (``wlkit.pipeline``, ``wlkit.model``) to
answer questions about pipelines and components.

- :mod:`wlkit.tools.separate` - does a model tell WL-hard pairs apart (BREC's T² test)?
- :mod:`wlkit.tools.analyze` - a dataset's WL ceilings under exact oracles;
- :mod:`wlkit.tools.check` - the conformance kit over registered components;
- :mod:`wlkit.tools.schema` - its schema-against-factory checks (defaults, bounds);
- :mod:`wlkit.tools.leaderboard` - an OGB leaderboard report of a run;
- :mod:`wlkit.tools.reference` - the generated component reference (``docs/reference.md``);
- :mod:`wlkit.tools.listing` - ``wlkit plugins``;
- :mod:`wlkit.tools.tables` - the plain-text tables they print.

The kernel never imports this package; the CLI (:mod:`wlkit.cli`) does.
"""
