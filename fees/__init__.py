"""Public-service fees: agencies' fee catalogues, fee notices paid by VietQR or card, bulk and
recurring issuance, e-receipts and collection reports."""
