"""Matching: pairs buyers' purchase requests with producers' supply offers (partial fills,
price overlap, distance and time windows) and turns accepted matches into orders.

Nothing is built here yet; the foundation only reserves the boundary: the engine is pure
(no database, no HTTP), and the service around it uses ``choso`` and ``market``.
"""
