"""The pandas twin of the default SQL detector (`robust_seasonal`, macros/anomaly/anomaly_robust_seasonal_scored.sql).

It exists to measure the SQL against the fastest honest pandas form of the same algorithm (`make bench`), and a
test holds it to the mart's numbers (1e-9). Same statistics, same order of steps, same rules for missing values
(SQL's aggregates skip nulls, `greatest`/`least` ignore them, a comparison with null is false):

    level0  = median of y_base over the last L rows          factor1 = median of (y_base - level0) at the rows
    level1  = median of (y_base - factor1) over the last L    S, 2S, ... WS back (the last W seasons)
    pass one drops rows beyond clean_k x IQR of the residuals over the last N rows (y_clean)
    factor, level (L, or 2L when under half of L is clean), quartiles of the clean residuals over N, and the
    corroborating mean and sd of the raw values over the z-score window.

The frame is wide (periods x series), so every rolling statistic is one column-wise pandas call. Series may
start on different periods (the rows before a series starts are NaN, which every statistic skips, as the SQL
never sees them); the input must be on a spine, as the macro's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def past(frame: pd.DataFrame, n: int) -> pd.core.window.Rolling:
    """The `n` rows before each row (the row itself excluded), like `rows between n preceding and 1 preceding`."""
    return frame.shift(1).rolling(n, min_periods=1)


def min_periods(o: dict, window: int) -> int:
    """Values a trailing window must hold before it judges, as the macro anomaly_min_periods: `min_periods` when
    set (capped at the window), else half the window (at least 2)."""
    return min(int(o["min_periods"]), window) if o.get("min_periods") else max(window // 2, 2)


def lag_median(frame: pd.DataFrame, season: int, seasons: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and count of the values `season`, 2 x `season`, ... `seasons` x `season` rows back (missing values
    skipped), like the macros' median of seasonal lags."""
    lags = np.stack([frame.shift(i * season).to_numpy() for i in range(1, seasons + 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are NULL medians
        return np.nanmedian(lags, axis=0), np.sum(~np.isnan(lags), axis=0)


def robust_seasonal(
    df: pd.DataFrame, o: dict, series_col: str = "series_key", time_col: str = "period_ts"
) -> pd.DataFrame:
    """Columns `value` (and `is_holiday`) per series and period in; the detector's columns out, same rows."""
    v = df.pivot(index=time_col, columns=series_col, values="value").astype("float64")
    holiday = (
        df.pivot(index=time_col, columns=series_col, values="is_holiday").fillna(False).astype(bool)
        if "is_holiday" in df
        else pd.DataFrame(False, index=v.index, columns=v.columns)
    )
    present = df.pivot(index=time_col, columns=series_col, values=time_col).notna()
    L, S, W, N = o["level_window"], o["season_length"], o["season_window"], o["window"]
    log = bool(o["log_transform"])

    y = np.log(v.where(v >= 0) + 1) if log else v
    y_base = y.where(~holiday)
    period_index = present.cumsum().where(present)

    level0 = past(y_base, L).median()
    f1, _ = lag_median(y_base - level0, S, W)
    factor1 = pd.DataFrame(f1, index=v.index, columns=v.columns)
    level1 = past(y_base - factor1, L).median()
    fit1 = level1 + factor1
    r1 = y_base - fit1
    past_r1 = past(r1, N)
    q1_1, q3_1 = past_r1.quantile(0.25), past_r1.quantile(0.75)
    floor1 = o["min_iqr_log"] if log else o["min_iqr_log"] * fit1.abs()
    width1 = np.fmax(q3_1 - q1_1, floor1)
    e1 = y - fit1
    out1 = (e1 < q1_1 - o["clean_k"] * width1) | (e1 > q3_1 + o["clean_k"] * width1)
    y_clean = y_base.where(~out1)

    f2, n_factor = lag_median(y_clean - level0, S, W)
    factor = pd.DataFrame(f2, index=v.index, columns=v.columns)
    deseason = y_clean - factor
    short = past(deseason, L)
    level = short.median().where(short.count() >= (L + 1) // 2)
    long_frame = past(deseason, 2 * L)
    level = level.fillna(long_frame.median())
    n_level = long_frame.count()
    center = level + factor
    e_clean = y_clean - center
    past_e = past(e_clean, N)
    q1_e, q3_e, n_window = past_e.quantile(0.25), past_e.quantile(0.75), past_e.count()

    q1_s, q3_s = center + q1_e, center + q3_e
    floor_e = o["min_iqr_log"] if log else o["min_iqr_log"] * center.abs()
    spread = np.fmax(q3_e - q1_e, floor_e)
    if o["poisson_floor"] and log:
        spread = np.fmax(spread, 1.349 / np.sqrt(np.fmax(np.exp(center) - 1, 1.0)))
    k_eff = pd.DataFrame(o["k"] * 1.0, index=v.index, columns=v.columns).where(~holiday, o["k"] * o["holiday_k_factor"])

    judged = (
        (period_index > o["min_seasons"] * S)
        & (n_level >= (L + 1) // 2)
        & (n_factor >= 1)
        & (n_window >= min(S, N // 2))
    )
    jump_up = jump_down = pd.DataFrame(False, index=v.index, columns=v.columns)
    jz = float(o.get("jump_z") or 0)
    if jz > 0:  # a sudden jump: above jz robust sd of the window's changes and above 99 % of them
        jump = y.diff()
        past_j = past(jump, N)
        scale = np.fmax((past_j.quantile(0.75) - past_j.quantile(0.25)) / 1.349, floor_e)
        big_jump = (jump.abs() > jz * scale) & (jump.abs() > past(jump.abs(), N).quantile(0.99))
        jump_up, jump_down = big_jump & (jump > 0), big_jump & (jump < 0)
    k_ratio = o["clean_k"] / o["k"]  # a jump needs only pass one's band
    lower_s = q1_s - k_eff.where(~jump_down, k_eff * k_ratio) * spread
    upper_s = q3_s + k_eff.where(~jump_up, k_eff * k_ratio) * spread
    inv = (lambda x: np.exp(x) - 1) if log else (lambda x: x)
    expected = inv(center)
    lower_value, upper_bound = inv(lower_s), inv(upper_s)
    zc = float(o.get("corroboration_z") or 0)
    if zc > 0:  # the union of the seasonal band and the plain z band; the flag must leave both
        past_v = past(v, o["zscore_window"])
        z_mean, z_sd, n_z = past_v.mean(), past_v.std(), past_v.count()
        judged &= n_z >= min_periods(o, o["zscore_window"])
        lower_value = np.fmin(lower_value, z_mean - zc * z_sd).where(~jump_down, lower_value)
        upper_bound = np.fmax(upper_bound, z_mean + zc * z_sd).where(~jump_up, upper_bound)
    up, down = judged & (y > upper_s), judged & (y < lower_s)
    if zc > 0:
        up, down = up & (v > upper_bound), down & (v < lower_value)
    big = (v - expected).abs() >= o["min_abs_change"]
    direction = pd.DataFrame(None, index=v.index, columns=v.columns, dtype=object)
    direction = direction.mask(down & big, "down").mask(up & big, "up").mask(v.isna(), "missing")
    lower_bound = np.fmax(lower_value, 0) if log else lower_value

    cols = {
        "period_index": period_index,
        "value": v,
        "expected_value": expected,
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
        "score": (y - center) / spread.where(spread != 0),
        "direction": direction,
        "is_judged": judged,
    }
    long = pd.concat({name: frame.stack(future_stack=True) for name, frame in cols.items()}, axis=1)
    long = long[present.stack(future_stack=True)].reset_index()
    long["is_anomaly"] = long["direction"].notna()
    return long
