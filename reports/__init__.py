"""agreement-reports: curated agreement data in; an Excel workbook and PDF briefings out."""

import os

# The workbook's fast row writer writes text straight into et_xmlfile's stream; with lxml
# installed openpyxl would take lxml's stream instead, which has no such write, and the
# workbook would take five times as long. openpyxl reads this once, when first imported.
os.environ["OPENPYXL_LXML"] = "False"
