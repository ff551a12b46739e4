"""Report jobs: the data of a report (compliance_summary, decision_audit) and its renderings."""
