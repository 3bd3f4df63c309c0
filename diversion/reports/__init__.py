"""Reports: attendance, referral outcomes and proven reoffending, as HTML, CSV, PDF and JSON."""
