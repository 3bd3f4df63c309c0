"""Police referrals: people, eligibility, the referral lifecycle."""
