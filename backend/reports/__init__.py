"""Reports: KPIs from an hourly aggregate, the heatmap, contactability, CSV export, the daily summary and the
operator's own statistics (issue 17)."""
