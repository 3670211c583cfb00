"""The Sentinel report: one self-contained HTML file with the pipeline's findings and plots (`make report`)."""
