"""生成测试数据 / making test data: ``primitives`` (seeded, vectorised draws), ``services`` (service records),
``generator`` (records per kind with known defects, the registries, ``write_generated``), ``linked`` (linked
sets: institutions, staff, services and the 卫统45表 that sums them), ``scorer`` (findings against a manifest)
and ``fixtures`` (the committed ``fixtures/`` files).

May import: every layer below it (contract, reference, rules, io, report, engine) and ``fpschema.errors``.
"""
