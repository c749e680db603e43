"""``eiegen explore``: design-space exploration of compression and hardware on Dask.

``space`` reads the axes, ``steps`` are the measurements a worker runs,
``cache`` keeps their results by content, ``sweep`` runs them on a Dask
client, ``pareto`` and ``report`` turn the points into fronts and files.
"""
