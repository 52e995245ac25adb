"""What one city simulation runs: the city, the fleet, the demand, the policy, the day and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sika.errors import SikaError
from sika.rides.cities import City, VehicleType
from sika.rides.index import RESOLUTIONS

__all__ = [
    "DRIVERS_DEFAULT",
    "POLICIES",
    "PROFILES",
    "REQUESTS_PER_HOUR_DEFAULT",
    "InvalidSimulation",
    "SimulationConfig",
]

POLICIES = ("greedy", "batch")
PROFILES = ("normal", "ramadan")
# Calibrated so that Lomé's mean wait with the greedy policy is close to Gozem's 5 minutes
# (docs/rides.md, "Simulator").
DRIVERS_DEFAULT = 300
REQUESTS_PER_HOUR_DEFAULT = 125.0
# Limits, so that a typo cannot start a week-long run.
DRIVERS_MAX = 20_000
REQUESTS_PER_HOUR_MAX = 50_000.0
HOURS_MAX = 24.0 * 7
UPDATE_INTERVAL_S_MAX = 30.0
# The simulated day when none is given: a working day, or the 12th day of Ramadan 1447 (Lomé's Maghrib
# at 18:07, docs/calendar.md).
NORMAL_DAY = date(2026, 6, 3)
RAMADAN_DAY = date(2026, 3, 1)


class InvalidSimulation(SikaError):
    code = "invalid_simulation"


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    city: City
    drivers: int = DRIVERS_DEFAULT
    requests_per_hour: float = REQUESTS_PER_HOUR_DEFAULT
    hours: float = 24.0
    policy: str = "greedy"
    seed: int = 1
    start_hour: float = 6.0
    vehicle: VehicleType = VehicleType.MOTO
    accept_probability: float = 0.8
    response_s_min: float = 2.0
    response_s_max: float = 12.0
    update_interval_s: float = 20.0
    batch_interval_s: float = 5.0
    patience_s_min: float = 12 * 60.0
    patience_s_max: float = 15 * 60.0
    retry_after_s: float = 60.0
    retry_probability: float = 0.7
    # The index answers the same at every resolution, only faster or slower: resolution 9 suits tens of
    # thousands of drivers; a few hundred spread over a city search fastest at 7 (fewer, larger cells).
    index_resolution: int = 7
    # A working day's demand, or a Ramadan day's (sika.rides.demand).
    profile: str = "normal"
    # The drivers' hours rule of the city (sika.rides.hours): staggered shifts within the cap, rests,
    # and in Ramadan fasting mode for ``fasting_share`` of the drivers. Off: every driver online all along.
    fatigue: bool = False
    fasting_share: float = 0.6
    # The local date the run starts on (prayer times, Ramadan); None: a date that suits the profile.
    day: date | None = None

    @property
    def start_day(self) -> date:
        if self.day is not None:
            return self.day
        return RAMADAN_DAY if self.profile == "ramadan" else NORMAL_DAY

    def validate(self) -> None:
        """Every mistake as one :class:`InvalidSimulation`, before any work."""
        checks = (
            (self.policy in POLICIES, f"policy must be one of {', '.join(POLICIES)}, not {self.policy!r}"),
            (self.profile in PROFILES, f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}"),
            (1 <= self.drivers <= DRIVERS_MAX, f"drivers must be between 1 and {DRIVERS_MAX:,}"),
            (0 < self.requests_per_hour <= REQUESTS_PER_HOUR_MAX,
             f"requests per hour must be above 0 and at most {REQUESTS_PER_HOUR_MAX:,.0f}"),
            (0 < self.hours <= HOURS_MAX, f"hours must be above 0 and at most {HOURS_MAX:.0f}"),
            (0 <= self.start_hour < 24, "the start hour must be in [0, 24)"),
            (0 < self.accept_probability <= 1, "the acceptance probability must be in (0, 1]"),
            (0 <= self.response_s_min <= self.response_s_max < self.city.offer_timeout_s,
             f"response delays must be ordered and below the offer timeout ({self.city.offer_timeout_s} s)"),
            (0 < self.update_interval_s <= min(UPDATE_INTERVAL_S_MAX, self.city.location_max_age_s / 2),
             "the update interval must be above 0, at most 30 s and half the location's maximum age"),
            (0 < self.batch_interval_s <= 60, "the batch interval must be in (0, 60] s"),
            (0 < self.patience_s_min <= self.patience_s_max <= 3_600,
             "patience must be ordered, at most 1 h"),
            (0 < self.retry_after_s <= 600, "the retry delay must be in (0, 600] s"),
            (0 <= self.retry_probability <= 1, "the retry probability must be in [0, 1]"),
            (0 <= self.fasting_share <= 1, "the share of fasting drivers must be in [0, 1]"),
            (self.index_resolution in RESOLUTIONS, "the index resolution must be between 5 and 12"),
        )
        for ok, message in checks:
            if not ok:
                raise InvalidSimulation(message)
        self.city.vehicle(self.vehicle)  # the city runs this service
