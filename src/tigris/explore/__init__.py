"""explore/: design-space exploration. A space (a base chip, knobs with ranges, a workload,
constraints, objectives) is searched with Optuna; designs are scored in parallel (Ray or a
process pool) by the same pipeline as any chip. Imports spec/, cost/, physical/ and serve/.

    space.load(path) -> Space                        # the YAML, checked
    design.realise(space, base, knobs) -> Chip       # one design, pure
    score.score(space, base, tech, params) -> Scored # metrics + constraint violations
    search.run(space, storage, pool) -> Outcome      # the study, stored and resumable
    front.table(study, space) -> DataFrame; front.pareto(df, space) -> mask
"""
