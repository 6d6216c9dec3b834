"""What a run produced, read the same way by everything that shows it: the Pareto front, the
hypervolume and its reference point, the picks (OptSW, OptHW), the accuracy noise, the one
Pareto plot and the run folder's files (trials.csv, picks.json). The search, the report,
`compare` and the tabular benchmark use these; none of them draws or counts its own.
Neutral: it needs only the stored records (no search, no torch)."""
