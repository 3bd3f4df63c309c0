"""Data retention: erasing the identifying data of people whose referrals are long closed."""
