"""Rides: moto-taxi on demand: cities and fares, drivers, dispatch, trips, payment, the simulator."""
