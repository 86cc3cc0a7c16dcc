"""Where samples run: serially, on local processes that die with the run, Dask or SLURM."""
