"""读写文件 / reading and writing files: ``reader`` (every input format into one frame, header finding,
encodings), ``csvstream`` (a large CSV in blocks), ``sheetscan`` (the cells of a workbook), ``writer`` (CSV,
JSONL, Parquet, XLSX; atomic writes) and ``truth`` (defect manifests beside a file). A new input format goes
in ``reader``.

May import: ``fpschema.contract``, ``fpschema.reference``, ``fpschema.rules``, ``fpschema.errors``
(``writer.write_generated`` loads ``fpschema.testdata`` lazily: it writes what the generator makes).
"""
