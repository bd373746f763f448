"""The rule catalogue: every rule once, as data (code, severity, scope, messages, source).

Rules that JSON Schema can say are stated in ``schemas/`` and name their code there (``x-rule`` and
``x-rules``); the rest are built as column expressions in :mod:`fpschema.checks`. Either way the
code, severity and messages live only here.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"

REG = "《计划生育技术服务管理条例》（2004年修订，国务院令第428号）"
GB11643 = "GB 11643-1999 公民身份号码"
GBT2260 = "GB/T 2260 各年代码表（fpschema/data/divisions.csv，源自 yescallop/areacodes，CC0）"
RETIRED_GRACE_YEARS = 5  # years after a code's abolition in which it may still be assigned (divisions reads it)
FPR_SRC = "国家移民管理局《新版外国人永久居留身份证机读信息规则（2023版）》[secondary]"


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    scope: str  # file, field, record, dataset, report
    zh: str
    en: str
    source: str
    supersedes: tuple[str, ...] = ()  # codes this rule replaces on the same cell (more specific)

    def message(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


_RULES = [
    # --- records and files -----------------------------------------------------------------------
    Rule("record.not_object", ERROR, "record", "记录不是一个对象（键值对）", "The record is not an object",
         "JSON Schema 2020-12"),
    Rule("record.unknown_kind", ERROR, "record", "未知的记录类型", "Unknown record kind", "fpschema"),
    Rule("file.missing_column", ERROR, "file",
         "文件的列不符合任何版式：与最接近的版式（取值）相比，缺少这些必需的列，且无法由其他列推得",
         "The columns fit no layout: against the nearest layout (the value), these required columns are missing "
         "and cannot be derived from others", "schemas/ (x-layouts, required)"),
    Rule("file.unknown_column", WARNING, "file", "数据契约中没有此列，已忽略", "The column is not in the contract; ignored",
         "schemas/ (x-aliases)"),
    Rule("file.duplicate_column", ERROR, "file", "多个列对应同一字段，只校验第一个",
         "Several columns map to the same field; only the first is checked", "schemas/ (x-aliases)"),
    Rule("file.no_rows", ERROR, "file", "文件只有表头，没有数据行", "The file has a header but no data rows", "fpschema"),
    Rule("file.sheet_unreadable", ERROR, "file", "工作表无法读取（取值为原因），其中的数据未校验",
         "The worksheet cannot be read (the value says why); its data was not checked", "fpschema"),
    Rule("file.sheet_ignored", WARNING, "file", "工作表有数据，但找不到本类记录的表头，未校验（可用 --sheet 指定要校验的工作表）",
         "The worksheet holds data but no header of this kind of record; not checked (name the sheet to check with "
         "--sheet)", "fpschema"),
    Rule("cell.excel_error", ERROR, "field", "单元格是 Excel 错误值（如 #N/A、#DIV/0!、#REF!、#VALUE!），不是数据",
         "The cell holds an Excel error value (#N/A, #DIV/0!, #REF!, #VALUE!…), not data",
         "ECMA-376 第 1 部分 18.18.11 ST_CellType（e：错误值）/ Part 1, 18.18.11 ST_CellType (e: error)"),
    # --- generic field rules, compiled from the schema keywords ------------------------------------
    Rule("field.required", ERROR, "field", "缺少必填字段", "A required field is missing", "JSON Schema: required"),
    Rule("field.type", ERROR, "field", "数据类型错误", "The value has the wrong type", "JSON Schema: type"),
    Rule("field.code", ERROR, "field", "取值不在代码表中", "The value is not in the code table",
         "JSON Schema: enum (code tables of schemas/defs.json)"),
    Rule("field.pattern", ERROR, "field", "格式不符合要求", "The value does not have the required format",
         "JSON Schema: pattern"),
    Rule("field.date", ERROR, "field", "不是有效日期（应为 YYYY-MM-DD）", "Not a valid date (YYYY-MM-DD)",
         "JSON Schema: format date (RFC 3339 full-date)"),
    Rule("field.range", ERROR, "field", "数值超出允许范围", "The number is out of the allowed range",
         "JSON Schema: minimum / maximum"),
    Rule("field.length", ERROR, "field", "长度不符合要求", "The text is too short or too long",
         "JSON Schema: minLength / maxLength"),
    Rule("field.duplicate_item", ERROR, "field", "列表中有重复项", "The list repeats an item",
         "JSON Schema: uniqueItems"),
    Rule("field.invalid", ERROR, "field", "不符合数据契约", "The value does not satisfy the contract",
         "JSON Schema"),
    Rule("field.date_nonstandard", WARNING, "field",
         "日期不是 YYYY-MM-DD 格式（如 2023/4/19、2023年4月19日、Excel 日期序号），已按日期读取",
         "The date is not written YYYY-MM-DD (e.g. 2023/4/19, 2023年4月19日, an Excel serial number); read as a date",
         "GB/T 7408-2005 (ISO 8601)"),
    Rule("field.unknown", WARNING, "field", "数据契约中没有此字段", "The field is not in the contract",
         "fpschema"),
    # --- GB 11643 citizen ID numbers -------------------------------------------------------------------
    Rule("id.normalized", WARNING, "field", "身份证号含全角字符、小写 x 或多余空格，已规范化",
         "The ID number had full-width characters, a lower-case x or stray spaces; normalised",
         "fpschema（项目自定）：按 GB 11643-1999 §5 的号码结构（17 位数字加校验码 0-9 或 X，§5.5）读取"),
    Rule("id.excel_scientific", ERROR, "field",
         "身份证号被表格软件转成了科学计数法，后几位已丢失，请在源头以文本格式重新导出",
         "The ID number was turned into scientific notation by a spreadsheet; digits are lost, "
         "re-export it as text at the source", "GB 11643-1999; Excel 15-digit precision",
         supersedes=("id.format", "fpr.format")),
    Rule("id.excel_truncated", ERROR, "field",
         "身份证号末三位为 000 且校验码错误，疑似经表格软件按数字处理后丢失末位，请在源头以文本格式重新导出",
         "The ID number ends in 000 and fails its check digit: likely lost digits through a spreadsheet "
         "number; re-export it as text at the source", "GB 11643-1999; Excel 15-digit precision",
         supersedes=("id.checksum",)),
    Rule("id.format", ERROR, "field", "身份证号应为 18 位（17 位数字加 0-9 或 X）或 15 位数字",
         "The ID number must be 18 characters (17 digits and 0-9 or X) or 15 digits", GB11643),
    Rule("id.legacy_15", WARNING, "field", "15 位旧身份证号（一代证），已升级为 18 位，请核实更新",
         "A 15-digit legacy ID number (first-generation card); upgraded to 18 digits, please update it",
         "国发〔1999〕15号; 升位方法（补世纪 19、按 §5.5 重算校验码）为 fpschema（项目自定）"),
    Rule("id.checksum", ERROR, "field", "身份证号校验码错误", "The ID number's check digit is wrong",
         "GB 11643-1999 §5.5 (ISO 7064 MOD 11-2)"),
    Rule("id.birth_date", ERROR, "field", "身份证号中的出生日期不是有效日期",
         "The birth date in the ID number is not a real date", "GB 11643-1999 §5.3 (GB/T 7408)"),
    Rule("id.birth_future", ERROR, "field", "身份证号中的出生日期晚于校验参考日",
         "The birth date in the ID number is after the reference date", "GB 11643-1999 §5.3"),
    Rule("id.age_range", ERROR, "field", "身份证号对应年龄不在 0-120 岁之间",
         "The age from the ID number is not between 0 and 120", "GB 11643-1999 §5.3; 0-120 岁为 fpschema（项目自定）"),
    Rule("id.region", ERROR, "field", "身份证号前六位不是任何时期有效的 GB/T 2260 行政区划代码",
         "The first six digits of the ID number were never a GB/T 2260 division code",
         f"GB 11643-1999 §5.1; {GBT2260}"),
    Rule("id.region_retired", WARNING, "field",
         f"身份证号前六位的行政区划代码在出生年份之前 {RETIRED_GRACE_YEARS} 年以上即已撤销，不可能在出生后初次赋予，请核实",
         f"The ID number's division code was abolished more than {RETIRED_GRACE_YEARS} years before the birth "
         "year, so it cannot have been first assigned to this person; please verify",
         f"GB 11643-1999 §5.1（地址码为初次登记地代码）; {GBT2260}; 宽限 {RETIRED_GRACE_YEARS} 年为 fpschema（项目自定）"),
    # --- 2023 foreign permanent-residence ID cards (外国人永久居留身份证) ----------------------------------------
    Rule("fpr.format", ERROR, "field", "证件类别为外国人永久居留身份证（91），号码应为首位 9 的 18 位（17 位数字加 0-9 或 X）",
         "With document type 91 (foreign permanent-residence ID card) the number must be 18 characters starting with 9",
         FPR_SRC),
    Rule("fpr.doc_type", WARNING, "field", "号码为外国人永久居留身份证号码（首位 9），证件类别却填 01 居民身份证，请改为 91",
         "The number is a foreign permanent-residence ID number (first digit 9) but the document type says 01 "
         "(resident identity card); use 91", f"{FPR_SRC}; fpschema（项目自定代码 91）"),
    Rule("fpr.checksum", ERROR, "field", "外国人永久居留身份证号码校验码错误",
         "The foreign permanent-residence ID number's check digit is wrong", f"{FPR_SRC}（ISO 7064 MOD 11-2，同 GB 11643-1999 §5.5）"),
    Rule("fpr.birth_date", ERROR, "field", "外国人永久居留身份证号码中的出生日期（第 7-14 位）不是有效日期",
         "The birth date in the foreign permanent-residence ID number (characters 7-14) is not a real date", FPR_SRC),
    Rule("fpr.birth_future", ERROR, "field", "外国人永久居留身份证号码中的出生日期晚于校验参考日",
         "The birth date in the foreign permanent-residence ID number is after the reference date", FPR_SRC),
    Rule("fpr.age_range", ERROR, "field", "外国人永久居留身份证号码对应年龄不在 0-120 岁之间",
         "The age from the foreign permanent-residence ID number is not between 0 and 120", f"{FPR_SRC}; fpschema"),
    Rule("fpr.province", ERROR, "field", "外国人永久居留身份证号码第 2-3 位不是内地省级行政区划代码（受理地）",
         "Characters 2-3 of the foreign permanent-residence ID number are not a mainland province code (where the "
         "application was accepted)", f"{FPR_SRC}; GB/T 2260"),
    Rule("fpr.nationality", WARNING, "field", "外国人永久居留身份证号码第 4-6 位不是 ISO 3166-1（GB/T 2659）国家和地区数字代码，请核实",
         "Characters 4-6 of the foreign permanent-residence ID number are not an ISO 3166-1 (GB/T 2659) numeric "
         "country code; please verify", f"{FPR_SRC}; ISO 3166-1 / GB/T 2659 数字代码 [secondary]"),
    # --- other identifiers -----------------------------------------------------------------------------
    Rule("uscc.format", ERROR, "field", "统一社会信用代码应为 18 位，且只含规定字符",
         "The unified social credit code must be 18 characters of the allowed alphabet", "GB 32100-2015 §4"),
    Rule("uscc.checksum", ERROR, "field", "统一社会信用代码校验码错误",
         "The unified social credit code's check character is wrong", "GB 32100-2015 §5 (python-stdnum)"),
    Rule("uscc.normalized", WARNING, "field", "统一社会信用代码含空格、连字符、全角字符或小写字母，已规范化",
         "The unified social credit code had spaces, hyphens, full-width or lower-case characters; normalised",
         "GB 32100-2015 §4（代码字符集）"),
    Rule("uscc.org_checksum", WARNING, "field", "统一社会信用代码第 9-17 位（组织机构代码）的校验码不符合 GB 11714，请核实",
         "The organisation code in characters 9-17 of the unified social credit code fails its GB 11714 check "
         "character; please verify", "GB 32100-2015 §4.4; GB 11714-1997（加权因子 3,7,9,10,5,8,4,2，模 11）"),
    Rule("uscc.registration", WARNING, "field", "统一社会信用代码第 1-2 位不是已公布的登记管理部门和机构类别代码组合，请核实",
         "Characters 1-2 of the unified social credit code are not a published pair of registration authority "
         "and institution type; please verify", "GB 32100-2015 附录 A 及其后公布的代码（schemas/defs.json uscc_registration）"),
    Rule("uscc.division", WARNING, "field", "统一社会信用代码第 3-8 位不是任何时期的 GB/T 2260 行政区划代码（中央级 100000 除外），请核实",
         "Characters 3-8 of the unified social credit code were never a GB/T 2260 division code (national-level "
         "100000 aside); please verify", "GB 32100-2015 §4.3; GB/T 2260"),
    Rule("division.unknown", ERROR, "field", "行政区划代码前六位不是任何时期有效的 GB/T 2260 代码",
         "The first six digits are not a GB/T 2260 division code of any year", GBT2260,
         supersedes=("division.not_in_use",)),
    Rule("division.not_in_use", ERROR, "field",
         "行政区划代码在服务日期或统计年度所在年份不是在用的该级区划代码（如把省级、地级代码填作县级，或代码当年尚未启用）",
         "The division code was not a code in use at the allowed level in the year of the service date or report "
         "(e.g. a province or prefecture code where a county is required, or a code not yet created)",
         f"{GBT2260}（各年代码表）; 字段的年份与级别见 schemas/（x-division-year, x-division-levels）"),
    Rule("division.retired", WARNING, "field",
         "行政区划代码在该年份之前已撤销或变更，请改用继任代码（见报告的值：原代码 → 继任代码）",
         "The division code had been abolished or changed before that year; use its successor (the reported value "
         "reads old code → successor)", f"{GBT2260}（新旧代码对应关系）"),
    Rule("division.name_unknown", ERROR, "field", "市(区)名称在服务年份不是任何在用的县级行政区划，无法确定区划代码",
         "The district name is not a county-level division in use in the service year; its code cannot be derived",
         GBT2260),
    Rule("division.name_ambiguous", WARNING, "field",
         "市(区)名称在服务年份对应多个县级行政区划（取值列出每一个），请在名称前写明所属市或省（如 杭州市西湖区），或改填区划代码",
         "The district name matches several county-level divisions in the service year (the value lists each); "
         "write its city or province before it (e.g. 杭州市西湖区) or give the division code instead", GBT2260),
    Rule("division.hierarchy", ERROR, "record", "下级区划代码与上级区划代码不一致（乡级前六位应等于市(区)代码，村级前九位应等于乡级代码）",
         "A lower division code does not start with its parent's code", "统计用区划代码编制规则; GB/T 10114-2003"),
    Rule("date.future", ERROR, "field", "日期晚于校验参考日", "The date is after the reference date", "fpschema"),
    # --- service records -------------------------------------------------------------------------------
    Rule("service.sex_mismatch", ERROR, "record", "性别与身份证号第 17 位（奇数为男、偶数为女）不一致",
         "Sex does not match the 17th digit of the ID number (odd male, even female)", "GB 11643-1999 §5.4"),
    Rule("service.birth_date_mismatch", ERROR, "record", "出生日期与身份证号中的出生日期不一致",
         "The birth date does not match the one in the ID number", "GB 11643-1999 §5.3"),
    Rule("service.before_birth", ERROR, "record", "服务日期早于出生日期", "The service date is before the birth date",
         "fpschema"),
    Rule("service.age_unusual", WARNING, "record", "服务时年龄不在常见范围（女性 15-49 岁，男性 18-60 岁），请核实",
         "Age at service is unusual (women 15-49, men 18-60); please verify",
         "女性：育龄妇女 15-49 岁（国人口统1表）；男性 18-60 岁为 fpschema（项目自定）"),
    Rule("service.reason_needs_iud", ERROR, "record", "“分娩后脱环”“带环怀孕”须有宫内节育器史",
         "分娩后脱环 and 带环怀孕 require an IUD history", "计划生育服务单"),
    Rule("service.reason_needs_sterilisation", ERROR, "record", "“结扎失败”须有绝育手术史",
         "结扎失败 requires a sterilisation history", "计划生育服务单"),
    Rule("service.child_count_status", ERROR, "record", "现有子女数与生育状况不一致",
         "The number of children does not agree with the birth status", "国人口统1表 孩次"),
    Rule("service.rural_fee", ERROR, "record",
         "农村实行计划生育的育龄夫妻免费享受的项目（避孕药具、孕情环情检查、放取宫内节育器、人工终止妊娠、结扎及并发症诊治；"
         "吻合术不在其列）却记录了收费",
         "A rural couple was charged for a service they get free (procedure_free_rural; recanalisation is not one)",
         f"{REG}第三条第三款（罚则第三十八条）；《计划生育技术服务管理条例实施细则》第四条；项目清单可按省覆盖"),
    Rule("service.procedure_sex", ERROR, "record", "服务项目与性别不符（如女性做输精管绝育）",
         "The procedure does not fit the client's sex", "卫统45表"),
    Rule("dataset.duplicate_record", ERROR, "dataset", "同一服务对象、服务项目、日期和服务站的记录重复出现",
         "The same client, procedure, date and station appear more than once", "fpschema"),
    Rule("dataset.id_conflict", ERROR, "dataset", "同一身份证号在不同记录中的性别或出生日期不一致",
         "One ID number has different sexes or birth dates in different records", "GB 11643-1999"),
    # --- institutions and staff ------------------------------------------------------------------------
    Rule("institution.individual_surgery", ERROR, "record", "个体医疗机构不得从事计划生育手术",
         "Individual clinics may not perform family-planning surgery", f"{REG}第二十九条第二款"),
    Rule("institution.licence_overdue", ERROR, "record",
         "执业许可证超过校验周期未校验（计划生育技术服务机构执业许可证每三年，医疗机构执业许可证每年；类别未填按三年）",
         "The practice licence is overdue for verification (family-planning licence every three years, "
         "medical-institution licence every year; three years when the type is not given)",
         f"{REG}第二十五条（罚则第三十六条）；《医疗机构管理条例》第二十二条（床位不满 100 张者每年校验；"
         "床位数未记录，按不满 100 张计，为 fpschema 假设）"),
    # --- adverse events --------------------------------------------------------------------------------
    Rule("event.escalation", ERROR, "record", "严重的或新出现的事件须逐级上报",
         "Serious or new events must be escalated", f"{REG}第三十二条（严重的或新出现的：第三款）"),
    Rule("event.report_before_occur", ERROR, "record", "报告日期早于发生日期",
         "The report date is before the event date", f"{REG}第三十二条"),
    # --- aggregate reports -----------------------------------------------------------------------------
    Rule("indicator.numerator_exceeds", ERROR, "record", "分子大于分母", "The numerator exceeds the denominator",
         "WS/T 598.5-2018"),
    Rule("indicator.rate_mismatch", ERROR, "record", "报告值与分子、分母重算的值不一致（超出舍入误差）",
         "The reported value differs from numerator / denominator beyond rounding", "WS/T 598.5-2018; 表内审核"),
    Rule("indicator.unit", ERROR, "record", "单位与该指标的定义不符", "The unit is not the indicator's unit",
         "WS/T 598.5-2018"),
    Rule("indicator.below_target", WARNING, "record", "未达标：指标值未达到考核目标", "Below target: the value misses "
         "the target", "考核目标配置（fpschema/targets/）"),
    Rule("report.future_period", ERROR, "record", "统计年度尚未开始", "The statistical year has not begun yet",
         "全国妇幼卫生调查制度：统计年度为上年10月1日至本年9月30日"),
    Rule("report.total_mismatch", ERROR, "record",
         "各项计划生育技术服务总例数不等于各项手术例数之和（“其中”列如麻醉流产不计入）",
         "The total number of services is not the sum of the procedure counts (without 'of which' columns such as "
         "麻醉流产)", "卫统45表 表内审核"),
    Rule("report.subset_exceeds", ERROR, "record", "“其中”列的例数大于其所属项目的例数（如麻醉流产大于负压吸引术与钳刮术之和）",
         "An 'of which' count exceeds what it is part of (e.g. 麻醉流产 above 负压吸引术 plus 钳刮术)",
         "卫统45表 表内审核；麻醉流产为负压吸引术、钳刮术的“其中”项是 fpschema 的假设（填报说明未核实）"),
    Rule("report.complication_exceeds", ERROR, "record", "并发症例数大于相应手术例数",
         "A complication count exceeds its procedure count", "卫统45表 表内审核"),
    Rule("report.duplicate_key", ERROR, "dataset",
         "同一区划、统计年度（指标报表还有同一指标）出现在多行（每一重复行都报告）",
         "The same division and statistical year (and, in an indicator report, indicator) appear on several rows "
         "(reported on each of them)",
         "卫统45表、妇幼卫生年报：每个区划每个统计年度填一行；键见数据契约 x-key（fpschema（项目自定））"),
    Rule("report.rollup_mismatch", ERROR, "report", "上级区划的数不等于其下级区划之和",
         "A parent division's figure is not the sum of its children", "表间审核：逐级汇总"),
    Rule("report.rollup_incomplete", ERROR, "report", "上级区划的下级区划不全（按统计年度的区划）",
         "Some child divisions of a parent (in the report year's division list) are missing",
         "表间审核：逐级汇总; GB/T 2260"),
    Rule("report.implausible_change", WARNING, "report", "与上一统计年度相比变化异常（稳健 z 分数），请核实并说明",
         "The change from the previous year is unusual (robust z-score); verify and explain",
         "修正 z 分数（Iglewicz & Hoaglin）"),
    Rule("report.reconcile_mismatch", ERROR, "report", "报表数与个案记录重算数不一致",
         "The reported count differs from the count recomputed from the service records", "表间审核：报表与个案"),
]

RULES: dict[str, Rule] = {r.code: r for r in _RULES}
if len(RULES) != len(_RULES):  # pragma: no cover - guarded by a test too
    raise RuntimeError("duplicate rule code in the catalogue")


def rule(code: str) -> Rule:
    return RULES[code]
