"""Payments: providers (VietQR bank transfer, cards through Stripe), the double-entry ledger,
invoices for trade and public-service fees, and reconciliation jobs.

Nothing is built here yet; the foundation only reserves the boundary: payments may use
``choso`` (database, jobs, i18n) and read ``market``; ``market`` never imports ``payments``.
"""
