"""Service records (个案服务记录) drawn whole from the primitives: the generator of the ``service_record`` kind.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from fpschema import contract
from fpschema.testdata.primitives import (
    Profile,
    choice_series,
    current_counties,
    full_name_words,
    id_numbers,
    iso_dates,
    name_words,
    pick_series,
    place_words,
    random_dates,
)

# --- clean records ---------------------------------------------------------------------------------------


def service_records(rows: int, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    """Clean service records as text columns."""
    n = rows
    counties = current_counties(profile.period[0].year)
    if profile.county_codes:
        chosen = np.array([i for i, (code, _) in enumerate(counties) if code in set(profile.county_codes)])
    else:
        chosen = rng.choice(len(counties), size=min(profile.counties, len(counties)), replace=False)
    county_idx = rng.choice(chosen, size=n)
    city_code = pick_series([c for c, _ in counties], county_idx)
    city_name = pick_series([name for _, name in counties], county_idx)
    township_no = rng.integers(1, 40, size=n)
    village_no = rng.integers(1, 60, size=n)
    words = place_words()
    township_int = city_code.cast(pl.Int64).to_numpy() * 1000 + township_no  # codes have no leading zero
    township_code = pl.Series(township_int).cast(pl.Utf8)
    village_code = pl.Series(township_int * 1000 + village_no).cast(pl.Utf8)
    # names derive from the codes, so one code always has one name
    township_idx = (township_no * 7 + county_idx) % len(words)
    township_name = pick_series([w + "镇" for w in words], township_idx)  # whole names gathered, not joined per row
    office = pick_series([w + "镇计划生育办公室" for w in words], township_idx)
    village_name = pick_series([w + "村" for w in words], (village_no * 13 + township_no) % len(words))

    procedure = choice_series(rng, profile.procedure, n)
    male_np = procedure.is_in(list(contract.code_group("procedure_male_only"))).to_numpy()
    male = pl.Series(male_np)
    sex = pl.select(pl.when(male).then(pl.lit("1")).otherwise(pl.lit("2"))).to_series()
    service = random_dates(rng, n, *profile.period)
    # ages kept clear of the plausibility limits (women 15-49, men 18-60) by more than a year
    age_days = np.where(male_np, rng.integers(26 * 365, 50 * 365, size=n), rng.integers(19 * 365, 44 * 365, size=n))
    birth = service - age_days.astype("timedelta64[D]")
    client_id = id_numbers(city_code, birth, male_np, rng)

    status = choice_series(rng, profile.birth_status, n)
    reason = choice_series(rng, profile.service_reason, n)
    rural = rng.random(n) < profile.rural_share
    some_iud = rng.random(n) < 0.3
    status_n = status.cast(pl.Int64).to_numpy()
    child = np.where(status_n == 4, 4 + rng.integers(0, 2, size=n), status_n)
    reason = pl.select(pl.when(male).then(None).otherwise(reason)).to_series()
    reason_np = reason.fill_null("").to_numpy()
    iud = np.isin(reason_np, ["1", "2"]) | some_iud
    steril = reason_np == "3"
    proc_np = procedure.to_numpy()
    method = np.where(proc_np == "01", 2, np.where(male_np, 1, 0))  # 6 避孕套, 1 男性绝育, 3 宫内节育器
    free = procedure.is_in(list(contract.code_group(contract.FREE_RURAL))).to_numpy()
    fee = np.where(rural & free, 0, rng.integers(0, 30, size=n) * 10)  # recanalisation is charged, rural or not

    last, weights, female_names, male_names = name_words()
    surname = rng.choice(len(last), size=n, p=weights)
    female_full, male_full = full_name_words()
    name = pl.select(
        pl.when(male).then(pick_series(male_full, surname * len(male_names) + rng.integers(0, len(male_names), size=n)))
        .otherwise(pick_series(female_full, surname * len(female_names) + rng.integers(0, len(female_names), size=n)))
    ).to_series()
    no_yes = ["否", "是"]
    return pl.DataFrame({
        "record_id": "SR" + pl.Series(np.arange(1, n + 1)).cast(pl.Utf8).str.zfill(8),
        "station_code": township_code,
        "id_doc_type": pl.repeat("01", n, eager=True),
        "client_id": client_id,
        "client_name": name,
        "sex": sex,
        "birth_date": iso_dates(birth),
        "birth_status": status,
        "child_count": pl.Series(child).cast(pl.Utf8),
        "service_reason": reason,
        "contraceptive_method": pick_series(["6", "1", "3"], method),
        "procedure": procedure,
        "iud_history": pick_series(no_yes, iud.astype(np.int8)),
        "sterilisation_history": pick_series(no_yes, steril.astype(np.int8)),
        "city_code": city_code,
        "city_name": city_name,
        "township_code": township_code,
        "township_name": township_name,
        "village_code": village_code,
        "village_name": village_name,
        "service_date": iso_dates(service),
        "issuing_office": office,
        "is_rural": pick_series(no_yes, rural.astype(np.int8)),
        "fee": pl.Series(fee).cast(pl.Utf8),
    })
