"""Parquet datasets: runs exported as Hive-partitioned Parquet, imported back, or queried in place.

A dataset is a directory that DuckDB, Polars, pyarrow, Spark and Trino read as one table per
directory, partitioned by run (``run_id`` is the partition column: it is in no file, so no
engine sees it twice)::

    DIR/_eventstore.json                              what this is: format, schema revision
    DIR/runs/run_id=<run id>/part-0.parquet           the run (one row)
    DIR/run_names/run_id=<run id>/part-0.parquet      its name codes
    DIR/events/run_id=<run id>/part-0.parquet         its events, by seq
    DIR/lineage_edges/run_id=<run id>/part-0.parquet  its lineage edges
    DIR/deliveries/run_id=<run id>/part-0.parquet     its handler deliveries

Run ids are percent-encoded in directory names, as Hive does; every engine above decodes them.
Each file holds the row's compact columns (integer codes and seqs, exactly what the store keeps,
so an import restores every row) and beside them the strings users' SQL names: ``event_id``,
``event_type``, ``source``, ``causation_id``, ``version``, ``kind``, ``handler``. Parquet
stores a repeated string once per row group, so the names cost little, and a data lake needs no
join to read them.
``run_no`` is in no file: it numbers runs within one store, so two stores' exports can share a
directory; whoever reads a dataset numbers its runs (by start) and an import renumbers them.

A run is written atomically: its ``runs`` file is removed first and written last (each file is
written under a hidden temporary name, then renamed), and readers here see only runs whose
``runs`` file exists. Exporting a run again replaces it. ``parquet_export.py`` writes a dataset,
``parquet_import.py`` loads one back into a store, ``dataset.py`` queries one in place.
"""

from eventstore.store.parquet_export import ROW_GROUP_ROWS, Progress, export_runs
from eventstore.store.parquet_import import ImportResult, import_dataset

__all__ = ["ROW_GROUP_ROWS", "ImportResult", "Progress", "export_runs", "import_dataset"]
