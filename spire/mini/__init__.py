"""The CPU miniature: small, locally generated stand-ins for the paper's data and languages."""
