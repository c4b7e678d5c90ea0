"""24-hour crisis lines shown to every worker, open or closed, counselor or none.

Verify every number before launch: a wrong hotline number is worse than none.
"""

from __future__ import annotations

HOTLINES: list[dict[str, str]] = [
    {"name": "全国心理援助热线", "name_en": "National psychological assistance line",
     "phone": "12356", "hours": "24小时"},
    {"name": "北京心理危机研究与干预中心", "name_en": "Beijing psychological crisis hotline",
     "phone": "010-82951332", "hours": "24小时"},
    {"name": "北京心理危机研究与干预中心（座机免费）",
     "name_en": "Beijing hotline (landline, free)",
     "phone": "800-810-1117", "hours": "24小时"},
    {"name": "急救", "name_en": "Ambulance", "phone": "120", "hours": "24小时"},
    {"name": "报警", "name_en": "Police", "phone": "110", "hours": "24小时"},
]
