"""读写文件 / reading and writing files. ``reader.read`` dispatches on the format to ``delimited`` (CSV/TSV),
``spreadsheet`` (XLSX, XLS; cells from ``sheetscan``), ``jsonfile`` (JSON, JSONL) and ``frames`` (Parquet, data
frames); what they share is in ``text`` (limits, the table, encodings) and ``header`` (header finding, shaping
a grid into a table). ``csvstream`` reads a large CSV in blocks; ``writer`` writes CSV, JSONL, Parquet and XLSX
(atomic writes); ``truth`` reads and writes defect manifests beside a file. A new input format is a module here
and a branch in ``reader``.

May import: ``fpschema.contract``, ``fpschema.reference``, ``fpschema.rules``, ``fpschema.errors``.
"""
