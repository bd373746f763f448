"""参照数据与标识码 / reference data and identifiers: the division table (GB/T 2260 with years,
``divisions``), and one stdnum-like module per identifier (``gb11643`` ID numbers, ``uscc`` unified social credit
codes, ``fpr`` foreigners' permanent residence cards). A new identifier is a module here.

May import: ``fpschema.contract`` only.
"""
