"""Synthetic curated data sets of format v1, of any size, for benchmarks and load tests.

    from synthetic import generate, write_sources
    tables = generate(agreements=100_000, seed=1)   # table -> (header, rows of text)
    write_sources(tables, Path("/tmp/syn"))          # the six CSV files

Standard library only (no pandas): `scripts/make-synthetic-sources` runs with any
Python 3.11, and `scripts/benchmark` calls `make_sources` directly. The same
arguments always give byte-identical files: one `random.Random(seed)` draws
everything, and nothing iterates over a set.

The shape follows the curated COP29 data, scaled up: about 3 parties per agreement
(a long tail up to dozens), a few hundred ministries and agencies (agencies under
ministries, some two levels deep), thousands of companies in many countries (some
subsidiaries), international organisations without a country, a tree of 42
themes, names in Turkish, Azerbaijani, German, French, Portuguese, Polish,
Spanish and Italian spelling (letters DejaVu Sans prints; no CJK), long titles now
and then, every kind and status, partial dates, targets on about a tenth of the
agreements and a few dozen sources. The data is valid: every reference resolves,
ids are unique, no parent cycles, every theme and (almost) every party is used,
and no two party names look alike to the validator's duplicate check.
"""

from __future__ import annotations

import csv
import math
import random
import re
import sys
import unicodedata
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reports import dataformat as fmt  # noqa: E402  (stdlib-only module, no pandas)

Tables = dict[str, tuple[list[str], list[list[str]]]]

# ------------------------------------------------------------------ reference data

# code, English name, weight (how often a company is from there), language of names,
# local name (for subsidiaries), cities
COUNTRIES: tuple[tuple[str, str, float, str, str, tuple[str, ...]], ...] = (
    ("AZ", "Azerbaijan", 22, "az", "Azərbaycan", ("Baku", "Ganja", "Sumgait", "Shusha")),
    ("TR", "Türkiye", 10, "tr", "Türkiye", ("Istanbul", "Ankara", "İzmir", "Bursa")),
    ("GB", "United Kingdom", 6, "en", "UK", ("London", "Manchester", "Aberdeen")),
    ("US", "United States", 6, "en", "USA", ("Houston", "New York", "San Francisco")),
    ("DE", "Germany", 6, "de", "Deutschland", ("Berlin", "München", "Düsseldorf", "Köln")),
    ("CN", "China", 5, "en", "China", ("Beijing", "Shenzhen", "Shanghai")),
    ("IT", "Italy", 4, "it", "Italia", ("Milano", "Roma", "Torino")),
    ("FR", "France", 4, "fr", "France", ("Paris", "Lyon", "Toulouse")),
    ("AE", "United Arab Emirates", 4, "en", "Emirates", ("Abu Dhabi", "Dubai")),
    ("KZ", "Kazakhstan", 3, "en", "Kazakhstan", ("Astana", "Almaty")),
    ("UZ", "Uzbekistan", 3, "en", "Uzbekistan", ("Tashkent", "Samarkand")),
    ("GE", "Georgia", 3, "en", "Georgia", ("Tbilisi", "Batumi")),
    ("IN", "India", 3, "en", "India", ("New Delhi", "Mumbai", "Bengaluru")),
    ("JP", "Japan", 3, "en", "Japan", ("Tokyo", "Osaka")),
    ("KR", "Korea", 3, "en", "Korea", ("Seoul", "Busan")),
    ("PL", "Poland", 2, "pl", "Polska", ("Warszawa", "Kraków", "Łódź", "Gdańsk")),
    ("PT", "Portugal", 2, "pt", "Portugal", ("Lisboa", "Porto")),
    ("BR", "Brazil", 2, "pt", "Brasil", ("São Paulo", "Brasília", "Belém")),
    ("ES", "Spain", 2, "es", "España", ("Madrid", "Barcelona", "Málaga")),
    ("NL", "Netherlands", 2, "en", "Nederland", ("Amsterdam", "Rotterdam")),
    ("CH", "Switzerland", 2, "de", "Schweiz", ("Zürich", "Genève", "Basel")),
    ("AT", "Austria", 1.5, "de", "Österreich", ("Wien", "Graz")),
    ("SA", "Saudi Arabia", 2, "en", "Saudi Arabia", ("Riyadh", "Jeddah")),
    ("RU", "Russian Federation", 1.5, "en", "Russia", ("Moscow", "Kazan")),
    ("UA", "Ukraine", 1, "en", "Ukraine", ("Kyiv", "Lviv")),
    ("BE", "Belgium", 1, "fr", "Belgique", ("Bruxelles", "Liège")),
    ("SE", "Sweden", 1, "en", "Sverige", ("Stockholm", "Göteborg")),
    ("NO", "Norway", 1, "en", "Norge", ("Oslo", "Bergen")),
    ("DK", "Denmark", 1, "en", "Danmark", ("København", "Aarhus")),
    ("FI", "Finland", 1, "en", "Suomi", ("Helsinki", "Espoo")),
    ("EG", "Egypt", 1, "en", "Egypt", ("Cairo", "Alexandria")),
    ("MA", "Morocco", 1, "fr", "Maroc", ("Rabat", "Casablanca")),
    ("SN", "Senegal", 0.5, "fr", "Sénégal", ("Dakar",)),
    ("CI", "Côte d'Ivoire", 0.5, "fr", "Côte d'Ivoire", ("Abidjan",)),
    ("NG", "Nigeria", 1, "en", "Nigeria", ("Lagos", "Abuja")),
    ("ZA", "South Africa", 1, "en", "South Africa", ("Johannesburg", "Cape Town")),
    ("KE", "Kenya", 0.7, "en", "Kenya", ("Nairobi",)),
    ("ET", "Ethiopia", 0.5, "en", "Ethiopia", ("Addis Ababa",)),
    ("PK", "Pakistan", 1, "en", "Pakistan", ("Islamabad", "Karachi")),
    ("BD", "Bangladesh", 0.5, "en", "Bangladesh", ("Dhaka",)),
    ("ID", "Indonesia", 1, "en", "Indonesia", ("Jakarta", "Surabaya")),
    ("MY", "Malaysia", 1, "en", "Malaysia", ("Kuala Lumpur",)),
    ("SG", "Singapore", 1.5, "en", "Singapore", ("Singapore",)),
    ("VN", "Viet Nam", 0.7, "en", "Vietnam", ("Hanoi", "Ho Chi Minh City")),
    ("TH", "Thailand", 0.7, "en", "Thailand", ("Bangkok",)),
    ("AU", "Australia", 1, "en", "Australia", ("Sydney", "Perth")),
    ("CA", "Canada", 1.5, "en", "Canada", ("Toronto", "Calgary", "Montréal")),
    ("MX", "Mexico", 0.7, "es", "México", ("Ciudad de México", "Monterrey")),
    ("AR", "Argentina", 0.5, "es", "Argentina", ("Buenos Aires", "Córdoba")),
    ("CL", "Chile", 0.5, "es", "Chile", ("Santiago", "Valparaíso")),
    ("CO", "Colombia", 0.5, "es", "Colombia", ("Bogotá", "Medellín")),
    ("PE", "Peru", 0.3, "es", "Perú", ("Lima",)),
    ("QA", "Qatar", 1, "en", "Qatar", ("Doha",)),
    ("KW", "Kuwait", 0.5, "en", "Kuwait", ("Kuwait City",)),
    ("OM", "Oman", 0.5, "en", "Oman", ("Muscat",)),
    ("IL", "Israel", 0.7, "en", "Israel", ("Tel Aviv", "Haifa")),
    ("JO", "Jordan", 0.3, "en", "Jordan", ("Amman",)),
    ("IR", "Iran", 0.5, "en", "Iran", ("Tehran", "Tabriz")),
    ("TM", "Turkmenistan", 0.7, "en", "Turkmenistan", ("Ashgabat",)),
    ("KG", "Kyrgyzstan", 0.5, "en", "Kyrgyzstan", ("Bishkek",)),
    ("TJ", "Tajikistan", 0.4, "en", "Tajikistan", ("Dushanbe",)),
    ("MN", "Mongolia", 0.3, "en", "Mongolia", ("Ulaanbaatar",)),
    ("RO", "Romania", 0.7, "en", "România", ("București", "Cluj-Napoca")),
    ("BG", "Bulgaria", 0.5, "en", "Bulgaria", ("Sofia", "Varna")),
    ("HU", "Hungary", 0.7, "en", "Magyarország", ("Budapest",)),
    ("CZ", "Czechia", 0.7, "en", "Česko", ("Praha", "Brno")),
    ("SK", "Slovakia", 0.4, "en", "Slovensko", ("Bratislava",)),
    ("GR", "Greece", 0.7, "en", "Ellada", ("Athens", "Thessaloniki")),
    ("RS", "Serbia", 0.4, "en", "Srbija", ("Beograd", "Novi Sad")),
    ("HR", "Croatia", 0.4, "en", "Hrvatska", ("Zagreb", "Split")),
    ("LT", "Lithuania", 0.4, "en", "Lietuva", ("Vilnius",)),
    ("LV", "Latvia", 0.3, "en", "Latvija", ("Rīga",)),
    ("EE", "Estonia", 0.4, "en", "Eesti", ("Tallinn",)),
    ("IE", "Ireland", 0.5, "en", "Ireland", ("Dublin", "Cork")),
    ("LU", "Luxembourg", 0.4, "fr", "Luxembourg", ("Luxembourg",)),
    ("MD", "Moldova", 0.3, "en", "Moldova", ("Chișinău",)),
    ("AM", "Armenia", 0.2, "en", "Armenia", ("Yerevan",)),
    ("BY", "Belarus", 0.2, "en", "Belarus", ("Minsk",)),
    ("NZ", "New Zealand", 0.3, "en", "New Zealand", ("Auckland", "Wellington")),
)

# theme_id, name, parent_id, description, topic phrases for titles
THEMES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("green-economy", "Green economy", "", "Projects that cut emissions, waste and resource use",
     ("green economy projects", "the green transition")),
    ("renewable-energy", "Renewable energy", "green-economy", "Power from renewable sources",
     ("renewable energy", "a renewable power portfolio")),
    ("solar-power", "Solar power", "renewable-energy", "Solar parks and rooftop solar",
     ("a 230 MW solar power plant", "rooftop solar for public buildings", "floating solar")),
    ("wind-power", "Wind power", "renewable-energy", "Onshore and offshore wind farms",
     ("offshore wind in the Caspian Sea", "an onshore wind farm", "wind turbine assembly")),
    ("green-hydrogen", "Green hydrogen", "renewable-energy",
     "Hydrogen made with renewable electricity",
     ("green hydrogen production", "a hydrogen export corridor", "electrolyser manufacturing")),
    ("hydropower", "Hydropower", "renewable-energy", "Small and large hydropower plants",
     ("small hydropower plants", "modernising hydropower stations")),
    ("e-mobility", "E-mobility", "green-economy", "Electric vehicles, their manufacture and use",
     ("electric bus manufacturing", "electric vehicle assembly", "electric taxis")),
    ("charging-infrastructure", "Charging infrastructure", "e-mobility",
     "Charging stations for electric vehicles",
     ("a national charging network", "fast-charging stations on highways")),
    ("circular-economy", "Circular economy", "green-economy",
     "Deposit systems, recycling and turning waste into products",
     ("a deposit management system", "circular economy practices")),
    ("recycling", "Recycling", "circular-economy", "Collecting and recycling materials",
     ("plastic recycling", "battery recycling", "glass and metal recycling")),
    ("waste-to-energy", "Waste to energy", "circular-economy", "Energy and fuels from waste",
     ("pyrolysis oil from plastic waste", "a waste-to-energy plant")),
    ("carbon-technologies", "Carbon technologies", "green-economy",
     "Capturing, using and trading carbon",
     ("carbon technologies", "methane emission reduction")),
    ("carbon-capture", "Carbon capture", "carbon-technologies", "Capturing and storing CO₂",
     ("carbon capture and storage", "direct air capture")),
    ("carbon-markets", "Carbon markets", "carbon-technologies", "Carbon credits and trading",
     ("carbon credit trading", "a voluntary carbon market")),
    ("energy-storage", "Energy storage", "green-economy", "Batteries and their manufacture",
     ("an energy battery manufacturing facility", "grid-scale battery storage")),
    ("energy-efficiency", "Energy efficiency", "green-economy", "Using less energy for the same",
     ("energy efficiency in industry", "energy audits for factories")),
    ("green-buildings", "Green buildings", "energy-efficiency", "Efficient, low-carbon buildings",
     ("green building standards", "retrofitting public buildings")),
    ("sustainable-agriculture", "Sustainable agriculture", "green-economy",
     "Farming that keeps soil, water and climate in mind",
     ("climate-smart agriculture", "drip irrigation for farmers")),
    ("water-management", "Water management", "green-economy", "Saving and treating water",
     ("water desalination", "wastewater treatment")),
    ("climate-finance", "Climate finance", "green-economy", "Funding for climate action",
     ("climate finance", "a green investment fund")),
    ("green-bonds", "Green bonds", "climate-finance", "Bonds that fund green projects",
     ("a green bond issue", "sustainability-linked loans")),
    ("smes", "SMEs", "", "Small and medium-sized enterprises",
     ("support for small and medium-sized enterprises", "SME development")),
    ("sme-green-transition", "SMEs in the green transition", "smes",
     "Helping SMEs move to low-carbon resources and climate action",
     ("the green transition of SMEs", "climate action by small businesses")),
    ("sme-international-cooperation", "International SME cooperation", "smes",
     "Cooperation between SME agencies and organisations across borders",
     ("SME cooperation", "an SME partnership programme")),
    ("sme-finance", "SME finance", "smes", "Loans, guarantees and grants for SMEs",
     ("credit guarantees for SMEs", "SME lending")),
    ("microfinance", "Microfinance", "sme-finance", "Small loans for micro-enterprises",
     ("microloans for rural entrepreneurs", "microfinance")),
    ("entrepreneurship", "Entrepreneurship", "smes", "Starting and growing businesses",
     ("entrepreneurship", "business incubators")),
    ("startups", "Start-ups", "entrepreneurship", "Young, fast-growing companies",
     ("a start-up accelerator", "venture funding for start-ups")),
    ("women-entrepreneurship", "Women's entrepreneurship", "entrepreneurship",
     "Businesses led by women", ("women-led businesses", "women's entrepreneurship")),
    ("sme-export", "SME export", "smes", "Helping SMEs sell abroad",
     ("SME export promotion", "export readiness for SMEs")),
    ("sme-training", "SME training", "smes", "Skills and advice for SMEs",
     ("training for SME managers", "business advisory services")),
    ("digitalization", "Digitalization", "",
     "Digital technologies in the economy and in climate action",
     ("digital transformation", "digitalization")),
    ("artificial-intelligence", "Artificial intelligence", "digitalization",
     "AI in management, energy optimisation and climate action",
     ("artificial intelligence", "AI for energy optimisation")),
    ("climate-digitalization", "Climate digitalization", "digitalization",
     "Digital technologies applied to climate-related fields",
     ("climate data platforms", "digital monitoring of emissions")),
    ("e-government", "E-government", "digitalization", "Public services online",
     ("e-government services", "digital public services")),
    ("cybersecurity", "Cybersecurity", "digitalization", "Protecting systems and data",
     ("cybersecurity", "protecting critical infrastructure")),
    ("smart-cities", "Smart cities", "digitalization", "Connected urban services",
     ("smart city solutions", "intelligent transport systems")),
    ("digital-infrastructure", "Digital infrastructure", "digitalization",
     "Networks and data centres", ("digital infrastructure", "a regional digital hub")),
    ("broadband", "Broadband", "digital-infrastructure", "Fixed and mobile broadband",
     ("rural broadband", "5G networks")),
    ("data-centres", "Data centres", "digital-infrastructure", "Data centres and cloud",
     ("a green data centre", "cloud services")),
    ("fintech", "Fintech", "digitalization", "Digital payments and finance",
     ("digital payments", "open banking")),
    ("industry-4-0", "Industry 4.0", "digitalization",
     "Automation and data in manufacturing (the Fourth Industrial Revolution)",
     ("Industry 4.0 in manufacturing", "the Fourth Industrial Revolution")),
)

PORTFOLIOS = (
    "Economy", "Energy", "Finance", "Digital Development and Transport",
    "Ecology and Natural Resources", "Agriculture", "Industry and Technology",
    "Foreign Affairs", "Education", "Labour and Social Protection", "Trade", "Environment",
    "Climate", "Innovation", "Transport",
)
# native names of some ministries, used as aliases (language -> portfolio -> name)
NATIVE_MINISTRIES = {
    "az": {"Economy": "İqtisadiyyat Nazirliyi", "Energy": "Energetika Nazirliyi",
           "Finance": "Maliyyə Nazirliyi",
           "Ecology and Natural Resources": "Ekologiya və Təbii Sərvətlər Nazirliyi",
           "Agriculture": "Kənd Təsərrüfatı Nazirliyi", "Education": "Elm və Təhsil Nazirliyi"},
    "tr": {"Economy": "Ekonomi Bakanlığı", "Energy": "Enerji ve Tabii Kaynaklar Bakanlığı",
           "Trade": "Ticaret Bakanlığı", "Industry and Technology": "Sanayi ve Teknoloji Bakanlığı",
           "Agriculture": "Tarım ve Orman Bakanlığı"},
    "de": {"Economy": "Bundesministerium für Wirtschaft", "Finance": "Bundesministerium der "
           "Finanzen", "Environment": "Bundesministerium für Umwelt und Naturschutz"},
    "fr": {"Economy": "Ministère de l'Économie", "Environment": "Ministère de la Transition "
           "écologique", "Agriculture": "Ministère de l'Agriculture et de la Souveraineté "
           "alimentaire"},
    "pt": {"Economy": "Ministério da Economia", "Energy": "Ministério do Ambiente e Energia",
           "Finance": "Ministério das Finanças"},
    "pl": {"Climate": "Ministerstwo Klimatu i Środowiska", "Finance": "Ministerstwo Finansów",
           "Economy": "Ministerstwo Rozwoju i Technologii"},
    "es": {"Economy": "Ministerio de Economía", "Energy": "Ministerio para la Transición "
           "Ecológica"},
    "it": {"Economy": "Ministero dell'Economia e delle Finanze",
           "Environment": "Ministero dell'Ambiente e della Sicurezza Energetica"},
}
AGENCY_TOPICS = (
    "Small and Medium Business Development", "Renewable Energy", "Energy Efficiency",
    "Innovation", "Digital Development", "Export Promotion", "Investment Promotion",
    "Climate Data", "Environmental Monitoring", "Water Resources", "Agricultural Innovation",
    "Industrial Parks", "Standards and Metrology", "Road Transport", "Public Services",
    "Hydrometeorology", "Waste Management", "Forest Development", "Skills Development",
    "Tourism Development", "Space Technologies", "Cybersecurity", "Energy Regulation",
    "Employment", "Regional Development", "Technology Transfer", "Statistics",
)
AGENCY_WORDS = ("Agency", "Centre", "Office", "Fund", "Institute", "Service", "Authority",
                "Council", "Board")
AGENCY_UNITS = ("Regional Office", "Analysis and Coordination Centre", "Training Centre",
                "Research Institute", "Support Centre", "Monitoring Unit", "Laboratory",
                "Innovation Hub")
SYLLABLES = ("vol", "ta", "ra", "en", "er", "gi", "ko", "nex", "sol", "ar", "is", "tek", "ma",
             "ri", "no", "va", "lu", "men", "dor", "al", "sa", "zen", "tri", "on", "bel", "ka",
             "mir", "sun", "ges", "pro", "ter", "vi", "ax", "el", "tra", "li", "os", "qua",
             "di", "me", "ne", "ro", "cel", "fa", "gen", "zo", "ly", "pa", "nor", "dex")
WORDS = {
    "az": ("Günəş", "Xəzər", "Yaşıl", "Enerji", "Texnologiyaları", "Rəqəmsal", "Həllər",
           "Şəbəkə", "Bərpa", "İnşaat", "Mühəndislik", "Gəncə", "Kür", "Şirvan", "Qarabağ",
           "Ekoloji", "Sənaye", "Logistika", "Kənd", "Təmiz", "İnnovasiya", "Layihə"),
    "tr": ("Enerji", "Teknoloji", "Yenilenebilir", "Güneş", "Rüzgâr", "Yeşil", "Çevre",
           "Dönüşüm", "Bilişim", "Yazılım", "Lojistik", "Mühendislik", "Danışmanlık",
           "Sanayi ve Ticaret", "Işık", "Doğa", "Karadeniz", "Ege", "Akıllı", "Şebeke"),
    "de": ("Grüne", "Energie", "Technik", "Süd", "Nord", "Wärme", "Straßenbau", "Umwelt",
           "Lösungen", "Müller", "Weißhaupt", "Windkraft", "Solartechnik", "Kreislauf",
           "Speicher", "Anlagenbau", "Bürger", "Netze", "Wasserstoff", "Gebäude"),
    "fr": ("Énergie", "Réseaux", "Électricité", "Solaire", "Écologie", "Société", "Générale",
           "Hydrogène", "Éolien", "Recyclage", "Numérique", "Ingénierie", "Thermique",
           "Méditerranée", "Avenir", "Systèmes"),
    "pt": ("Inovação", "Energia", "Soluções", "Ação", "Conceição", "Tecnologia", "Gestão",
           "Ambiental", "Sustentável", "Eólica", "Atlântico", "Construção", "Transição",
           "Água", "Serviços"),
    "pl": ("Łódź", "Wiatr", "Zielona", "Słoneczna", "Energia", "Przemysł", "Gdańsk", "Rozwój",
           "Technologie", "Żagiel", "Śląsk", "Ciepło", "Sieci", "Budownictwo", "Woda"),
    "es": ("Energía", "Soluciones", "Ingeniería", "Peña", "Renovables", "Tecnología",
           "Innovación", "Logística", "Eólica", "Construcción", "Agua", "Señal", "Servicios"),
    "it": ("Energia", "Tecnologie", "Soluzioni", "Ambiente", "Città", "Impianti", "Reti",
           "Rinnovabili", "Costruzioni", "Servizi", "Mobilità", "Sostenibilità"),
    "en": ("Energy", "Technologies", "Solutions", "Systems", "Renewables", "Power", "Digital",
           "Analytics", "Engineering", "Logistics", "Holdings", "Networks", "Capital",
           "Partners", "Ventures", "Infrastructure", "Mobility", "Cleantech", "Grid", "Labs"),
}
SUFFIXES = {
    "az": ("MMC", "ASC", "QSC"), "tr": ("A.Ş.", "Ltd. Şti."),
    "de": ("GmbH", "AG", "GmbH & Co. KG", "SE"), "fr": ("S.A.", "SAS", "SARL"),
    "pt": ("Ltda.", "S.A.", "Lda."), "pl": ("Sp. z o.o.", "S.A."), "es": ("S.A.", "S.L."),
    "it": ("S.p.A.", "S.r.l."), "en": ("Ltd", "LLC", "Inc.", "PLC", "Limited", "Corporation"),
}
REGIONS = ("Global", "Caspian", "Eurasian", "Black Sea", "Central Asian", "Mediterranean",
           "International", "Silk Road", "Trans-Caspian", "South Caucasus", "Asian", "European",
           "African", "Nordic", "Arab", "Turkic", "Danube", "Baltic", "Pacific", "Atlantic")
ORG_TOPICS = ("Green Growth", "Renewable Energy", "SME Development", "Climate Finance",
              "Digital Cooperation", "Clean Hydrogen", "Water", "Sustainable Transport",
              "Energy Charter", "Trade", "Innovation", "Circular Economy", "Carbon Markets",
              "Industrial Development", "Food Security", "Entrepreneurship", "Smart Cities")
ORG_WORDS = ("Alliance", "Partnership", "Development Bank", "Fund", "Council", "Network",
             "Organisation", "Forum", "Initiative", "Facility", "Centre", "Association")
UNIVERSITY_WORDS = ("Technical", "State", "Engineering", "Polytechnic", "Business")
NGO_WORDS = ("Foundation", "Society", "Institute", "Network", "Association", "Trust")
EVENTS = (  # name, year, month, location
    ("COP29", 2024, 11, "Baku, Azerbaijan"), ("COP28", 2023, 12, "Dubai, United Arab Emirates"),
    ("COP27", 2022, 11, "Sharm El-Sheikh, Egypt"), ("COP26", 2021, 11, "Glasgow, United Kingdom"),
    ("COP30", 2025, 11, "Belém, Brazil"), ("Baku Energy Week 2024", 2024, 6, "Baku, Azerbaijan"),
    ("Baku Energy Week 2025", 2025, 6, "Baku, Azerbaijan"),
    ("Hannover Messe 2024", 2024, 4, "Hannover, Germany"),
    ("Web Summit 2024", 2024, 11, "Lisboa, Portugal"),
    ("Caspian Agro 2023", 2023, 5, "Baku, Azerbaijan"),
    ("World Urban Forum 12", 2024, 11, "Cairo, Egypt"),
    ("İstanbul Energy Forum 2023", 2023, 10, "İstanbul, Türkiye"),
    ("Tashkent International Investment Forum 2024", 2024, 5, "Tashkent, Uzbekistan"),
)
PUBLISHERS = (
    ("Trend News Agency", "trend.az"), ("Report.az", "report.az"), ("APA", "apa.az"),
    ("Azertac", "azertag.az"), ("Anadolu Ajansı", "aa.com.tr"), ("Daily Sabah", "dailysabah.com"),
    ("Reuters", "reuters.com"), ("Euractiv", "euractiv.com"), ("Bloomberg", "bloomberg.com"),
    ("Ministry of Economy press office", "economy.gov.az"), ("UNFCCC", "unfccc.int"),
    ("Caspian News", "caspiannews.com"), ("Handelsblatt", "handelsblatt.com"),
    ("Les Échos", "lesechos.fr"), ("Público", "publico.pt"), ("Rzeczpospolita", "rp.pl"),
    ("El País", "elpais.com"), ("Il Sole 24 Ore", "ilsole24ore.com"),
    ("Kun.uz", "kun.uz"), ("Astana Times", "astanatimes.com"),
)
_ALL = ("green-economy", "smes", "digitalization")
METRICS = (  # metric, unit, description template, value range, decimals, top themes
    ("localization_rate", "%", "Localisation rate of {x}", (20, 80), 0, ("green-economy",)),
    ("installed_capacity", "MW", "Installed capacity of {x}", (5, 2000), 0, ("green-economy",)),
    ("emission_reduction", "t CO2e per year", "Emissions avoided by {x}", (1000, 500000), 0,
     ("green-economy",)),
    ("energy_savings", "GWh per year", "Energy saved through {x}", (1, 900), 1,
     ("green-economy",)),
    ("jobs_created", "jobs", "New jobs from {x}", (20, 5000), 0, _ALL),
    ("investment", "USD million", "Investment in {x}", (1, 3000), 1, _ALL),
    ("smes_supported", "SMEs", "SMEs supported through {x}", (50, 10000), 0, ("smes",)),
    ("people_trained", "people", "People trained through {x}", (100, 20000), 0,
     ("smes", "digitalization")),
    ("services_online", "services", "Public services put online through {x}", (5, 400), 0,
     ("digitalization",)),
    ("coverage", "%", "Population covered by {x}", (30, 99), 0, ("digitalization",)),
)
# countries named with "the" ("Ministry of Energy of the United Kingdom")
WITH_THE = ("United Kingdom", "United States", "United Arab Emirates", "Russian Federation",
            "Netherlands", "Czechia")
NOTES = ("Joint-venture partner", "Provides the technology", "Signed on behalf of the government",
         "Finances the first phase", "Invited to join later", "Observer at the signing",
         "Named in the press release only", "Coordinates the working group")

KIND_WEIGHTS = {"agreement": 24, "memorandum": 34, "charter": 3, "declaration": 9,
                "joint_venture": 6, "contract": 11, "discussion": 5, "other": 8}
STATUS_WEIGHTS = {"signed": 72, "open": 4, "in_progress": 10, "completed": 7, "stalled": 4,
                  "cancelled": 3}
# parties per agreement: most 2-4, a long tail up to dozens (mean about 3.2)
PARTY_COUNTS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 60)
PARTY_COUNT_WEIGHTS = (4, 38, 32, 13, 5, 3, 1.5, 1, 0.7, 0.5, 0.4, 0.3, 0.15, 0.1, 0.07, 0.03)
INFERRED_RATE = 0.001  # each inferred participation is one (intended) warning

# legal forms the validator drops before comparing names, plus the ones used here
_LEGAL = re.compile(
    r"\s(llc|ltd|limited|plc|inc|corp|corporation|co|company|gmbh|ag|sa|spa|as|ojsc|cjsc|jsc|"
    r"bv|nv|srl|sarl|pte|pty|group)$")
_MORE_LEGAL = re.compile(r"\s(mmc|asc|qsc|ltd sti|sti|gmbh co kg|kg|se|sas|ltda|lda|sp z oo|"
                         r"sl|srl|sa)$")
_TRANSLIT = str.maketrans({"ı": "i", "ə": "e", "Ə": "e", "ß": "ss", "ł": "l", "Ł": "l",
                           "ø": "o", "æ": "ae", "đ": "d", "œ": "oe"})


def name_key(name: str) -> str:
    """How the validator's duplicate check sees a name, then stricter still.

    First exactly reports.validate._normalised_name (casefold, drop accents and dots,
    strip legal suffixes), then also the suffixes of this generator: names unique
    under this key are unique under the validator's.
    """
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("ı", "i").replace(".", "")
    text = " ".join(re.sub(r"[^\w\s]", " ", text).split())
    previous = None
    while previous != text:
        previous = text
        text = _LEGAL.sub("", text).strip()
        text = _MORE_LEGAL.sub("", text).strip()
    return text


def slug(text: str, limit: int = 48) -> str:
    """An id from text: ASCII lowercase letters, digits and '-'."""
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(text) > limit:
        text = text[:limit].rsplit("-", 1)[0]
    return text or "x"


# ------------------------------------------------------------------ generator


@dataclass
class Party:
    pid: str
    name: str
    short: str
    kind: str
    country: str
    parent: str
    aliases: str
    pool: str  # gov | company | org: how agreements pick it


@dataclass
class _Picker:
    """Weighted choice by cumulative weights (bisect), much faster than rebuilding weights."""

    items: list
    cum: list[float] = field(default_factory=list)

    @classmethod
    def zipf(cls, items: list, rng: random.Random, s: float = 0.9) -> _Picker:
        order = list(items)
        rng.shuffle(order)
        return cls(order, list(accumulate(1.0 / (rank + 1) ** s for rank in range(len(order)))))

    @classmethod
    def weighted(cls, pairs: dict | list[tuple]) -> _Picker:
        items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
        return cls([k for k, _ in items], list(accumulate(w for _, w in items)))

    def __call__(self, rng: random.Random) -> Any:
        return self.items[bisect_left(self.cum, rng.random() * self.cum[-1])]


class _Generator:
    def __init__(self, agreements: int, seed: int, max_parties: int | None = None) -> None:
        self.n = agreements
        self.max_parties = max_parties
        self.rng = random.Random(seed)
        self.parties: list[Party] = []
        self.ids: dict[str, None] = {}
        self.name_keys: dict[str, str] = {}  # name key -> party_id
        self.alias_keys: dict[str, str] = {}  # short name / alias key -> party_id
        self.country = {c[0]: c for c in COUNTRIES}
        self.country_pick = _Picker.weighted([(c[0], c[2]) for c in COUNTRIES])
        self.parties_by_id: dict[str, Party] = {}
        self.brands: dict[str, str] = {}  # party_id -> brand, for companies with subsidiaries
        self.metrics = {top: [m for m in METRICS if top in m[5]] for top in _ALL}
        self.n_sources = max(3, min(48, agreements // 20))
        _check_enumerations()

    # ------------------------------------------------------------ names and ids
    def _free_name(self, name: str) -> bool:
        key = name_key(name)
        return bool(key) and key not in self.name_keys and key not in self.alias_keys

    def _new_id(self, base: str) -> str:
        pid = slug(base)
        n = 2
        while pid in self.ids:
            pid = f"{slug(base, 44)}-{n}"
            n += 1
        self.ids[pid] = None
        return pid

    def _add(self, name: str, kind: str, country: str, parent: str, pool: str,
             short: str = "", aliases: tuple[str, ...] = (), id_base: str = "") -> Party:
        pid = self._new_id(id_base or name)
        self.name_keys[name_key(name)] = pid
        kept_short = ""
        if short:
            key = name_key(short)
            if key and key not in self.name_keys:
                kept_short = short
                self.alias_keys.setdefault(key, pid)
        kept = []
        for alias in aliases:
            key = name_key(alias)
            if key and key not in self.name_keys and self.alias_keys.get(key, pid) == pid:
                kept.append(alias)
                self.alias_keys[key] = pid
        party = Party(pid, name, kept_short, kind, country, parent, "; ".join(kept), pool)
        self.parties.append(party)
        return party

    def _unique(self, make: Callable[[], str], fallback: str) -> str:
        for _ in range(40):
            name = make()
            if self._free_name(name):
                return name
        n = 2
        while not self._free_name(f"{fallback} {n}"):
            n += 1
        return f"{fallback} {n}"

    def of(self, code: str) -> str:
        """A country's name as it follows "of": "Azerbaijan", "the United Kingdom"."""
        name = self.country[code][1]
        return f"the {name}" if name in WITH_THE else name

    def _brand(self) -> str:
        r = self.rng
        return "".join(r.choice(SYLLABLES) for _ in range(r.choice((2, 2, 3)))).capitalize()

    @staticmethod
    def _acronym(name: str) -> str:
        skip = {"of", "and", "the", "for", "de", "la", "du", "und", "für", "ve", "və"}
        return "".join(w[0].upper() for w in name.split() if w.lower() not in skip
                       and w[0].isalpha())

    # ------------------------------------------------------------ parties
    def government_side(self) -> None:
        r, n = self.rng, self.n
        total = min(400, max(6, round(4 * math.sqrt(n))))
        n_ministries = max(3, round(total * 0.35))
        # ministries: every portfolio of Azerbaijan, then a few per country down the list
        pairs = [("AZ", p) for p in PORTFOLIOS]
        for code, *_ in COUNTRIES[1:]:
            pairs.extend((code, p) for p in r.sample(PORTFOLIOS, r.randint(3, 8)))
        ministries: list[Party] = []
        for code, portfolio in pairs[:n_ministries]:
            cname, lang = self.of(code), self.country[code][3]
            name = (f"Ministry of {portfolio}" if code == "AZ"
                    else f"Ministry of {portfolio} of {cname}")
            aliases = []
            if code == "AZ":
                aliases.append(f"Ministry of {portfolio} of the Republic of Azerbaijan")
            native = NATIVE_MINISTRIES.get(lang, {}).get(portfolio)
            if native and self.country[code][2] >= 2:
                aliases.append(native)
            ministries.append(self._add(name, "ministry", code, "", "gov", aliases=tuple(aliases),
                                        id_base=f"ministry-of-{portfolio}"
                                        + ("" if code == "AZ" else f"-{code}")))
        # agencies: under a ministry, some under another agency (two levels deep), a few alone
        agencies: list[Party] = []  # directly under a ministry, or alone
        for _ in range(total - len(ministries)):
            roll = r.random()
            if roll < 0.25 and agencies:
                parent: Party | None = r.choice(agencies[-40:])
                self._add_unit(parent)
                continue
            parent = r.choice(ministries) if roll < 0.92 else None
            code = parent.country if parent else self.country_pick(r)
            cname = self.of(code)

            def make(code: str = code, cname: str = cname) -> str:
                base = f"{r.choice(AGENCY_TOPICS)} {r.choice(AGENCY_WORDS)}"
                return base if code == "AZ" and r.random() < 0.6 else f"{base} of {cname}"

            name = self._unique(make, f"Development Agency of {cname}")
            short = self._acronym(name.split(" of ")[0]) if r.random() < 0.6 else ""
            agencies.append(self._add(name, "agency", code, parent.pid if parent else "", "gov",
                                      short=short))
        # governments of the larger partner countries
        for code, _, weight, *_ in COUNTRIES[: max(1, min(30, round(math.sqrt(n) / 6)))]:
            if weight >= 1:
                self._add(f"Government of {self.of(code)}", "government", code, "", "gov")

    def _add_unit(self, parent: Party) -> None:
        """An agency below an agency: two levels under its ministry."""
        unit = self.rng.choice(AGENCY_UNITS)
        base = parent.short or parent.name
        name = self._unique(lambda: f"{unit} of the {base}",
                            f"{unit} of the {parent.name}")
        self._add(name, "agency", parent.country, parent.pid, "gov")

    def _company_name(self, code: str, parent: Party | None) -> tuple[str, str]:
        """A free company name and its brand ("" when it starts with a common word)."""
        r = self.rng
        _, cname, _, lang, local, cities = self.country[code]
        words, suffixes = WORDS.get(lang, WORDS["en"]), SUFFIXES.get(lang, SUFFIXES["en"])
        brand = ""

        def subsidiary() -> str:
            assert parent is not None
            middle = f" {r.choice(words)}" if r.random() < 0.4 else ""
            return f"{self.brands[parent.pid]} {local}{middle} {r.choice(suffixes)}"

        def company() -> str:
            nonlocal brand
            roll = r.random()
            brand = ""
            if roll < 0.15:
                head = r.choice(cities)
            elif roll < 0.35:
                head = r.choice(words)
            else:
                head = brand = self._brand()
            tail = " ".join(r.sample([w for w in words if w != head], r.choice((1, 1, 2))))
            return f"{head} {tail} {r.choice(suffixes)}"

        name = self._unique(subsidiary if parent else company,
                            f"{self._brand()} {cname} Holdings")
        return name, brand if parent is None else self.brands[parent.pid]

    def companies(self) -> None:
        r, n = self.rng, self.n
        count = max(4, round(n ** 0.75))
        groups: list[Party] = []  # companies that have subsidiaries
        state_prone = ("AZ", "KZ", "SA", "AE", "UZ", "QA")
        for i in range(count):
            code = self.country_pick(r)
            state = r.random() < (0.15 if code in state_prone else 0.03)
            parent = r.choice(groups[-200:]) if groups and i > 20 and r.random() < 0.08 else None
            name, brand = self._company_name(code, parent)
            short = ""
            if r.random() < 0.2:
                short = brand.upper() if brand and len(brand) <= 6 else self._acronym(name)[:5]
            party = self._add(name, "state_company" if state else "company", code,
                              parent.pid if parent else "", "company", short=short,
                              id_base=name_key(name))
            if brand and parent is None:
                self.brands[party.pid] = brand
                if r.random() < 0.15:
                    groups.append(party)

    def organisations(self) -> None:
        r, n = self.rng, self.n
        for _ in range(max(2, round(math.sqrt(n) / 3))):
            name = self._unique(
                lambda: f"{r.choice(REGIONS)} {r.choice(ORG_TOPICS)} {r.choice(ORG_WORDS)}",
                "International Development Organisation")
            self._add(name, "international_organization", "", "", "org",
                      short=self._acronym(name))
        for _ in range(max(1, round(math.sqrt(n) / 4))):
            code = self.country_pick(r)
            _, cname, _, lang, _, cities = self.country[code]
            words = WORDS.get(lang, WORDS["en"])
            name = self._unique(
                lambda cities=cities, words=words: (
                    f"{r.choice(cities)} {r.choice(words)} {r.choice(NGO_WORDS)}"
                    if r.random() < 0.5 else f"{self._brand()} {r.choice(NGO_WORDS)}"),
                f"Climate Society of {self.of(code)}")
            self._add(name, "ngo", code, "", "org")
        for _ in range(max(1, round(math.sqrt(n) / 8))):
            code = self.country_pick(r)
            cities = self.country[code][5]
            name = self._unique(
                lambda cities=cities: f"{r.choice(cities)} {r.choice(UNIVERSITY_WORDS)} University",
                f"{cities[0]} University")
            self._add(name, "other", code, "", "org")

    # ------------------------------------------------------------ agreements
    def agreements(self) -> tuple[list[list[str]], list[list[list[str]]], list[list[str]]]:
        r, n = self.rng, self.n
        pools = {pool: _Picker.zipf([p for p in self.parties if p.pool == pool], r, s)
                 for pool, s in (("gov", 0.9), ("company", 0.8), ("org", 0.9))}
        pools = {k: v for k, v in pools.items() if v.items}
        first_pool = _Picker.weighted({k: w for k, w in
                                       (("gov", 55), ("company", 35), ("org", 10)) if k in pools})
        other_pool = _Picker.weighted({k: w for k, w in
                                       (("gov", 20), ("company", 65), ("org", 15)) if k in pools})
        kind_pick = _Picker.weighted(KIND_WEIGHTS)
        status_pick = _Picker.weighted(STATUS_WEIGHTS)
        cap = self.max_parties or PARTY_COUNTS[-1]
        count_pick = _Picker.weighted([(k, w) for k, w in zip(PARTY_COUNTS, PARTY_COUNT_WEIGHTS,
                                                              strict=True) if k <= cap]
                                      or [(cap, 1.0)])
        theme_ids = [t[0] for t in THEMES]
        theme_pick = _Picker.zipf(theme_ids, r, s=0.6)
        # every leaf theme (hence every theme) on one of the first agreements
        parents = {t[2] for t in THEMES}
        coverage = [tid for tid in theme_ids if tid not in parents]
        r.shuffle(coverage)
        first_themes = [coverage[j::n] for j in range(min(n, len(coverage)))]
        topics = {t[0]: t[4] for t in THEMES}
        parent_of = {t[0]: t[2] for t in THEMES}
        top_of = {}
        for tid in parent_of:
            node = tid
            while parent_of[node]:
                node = parent_of[node]
            top_of[tid] = node
        source_ids = [f"src-{i + 1:02d}" for i in range(self.n_sources)]
        source_pick = _Picker.zipf(source_ids, r, s=0.7)
        event_pick = _Picker.zipf(list(EVENTS), r, s=0.8)
        stems: dict[str, str] = {}  # topic -> its slug, the stem of agreement ids
        rows: list[list[str]] = []
        parts: list[list[list[str]]] = []
        targets: list[list[str]] = []
        for i in range(n):
            kind = kind_pick(r)
            k = count_pick(r)
            if k >= 10:
                kind = r.choice(("declaration", "declaration", "charter", "agreement"))
            members: dict[str, None] = {}
            for slot in range(k):
                pool = pools[(first_pool if slot == 0 else other_pool)(r)]
                for _ in range(6):
                    party = pool(r)
                    if party.pid not in members:
                        members[party.pid] = None
                        break
            pids = list(members)
            # themes, the first one covering every theme early on
            themes = first_themes[i] if i < len(first_themes) else [theme_pick(r)]
            for _ in range(r.choice((0, 0, 0, 0, 1, 1, 2))):
                t = theme_pick(r)
                if t not in themes:
                    themes.append(t)
            topic = r.choice(topics[themes[0]])
            # when and where
            if r.random() < 0.55:
                event, year, month, location = event_pick(r)
                day = r.randint(1, 28)
            else:
                event, location = "", ""
                year, month, day = r.randint(2015, 2025), r.randint(1, 12), r.randint(1, 28)
                if r.random() < 0.6:
                    code = self.parties_by_id[pids[0]].country or "AZ"
                    c = self.country[code]
                    location = f"{r.choice(c[5])}, {c[1]}"
            roll = r.random()
            signed_on = (f"{year}-{month:02d}-{day:02d}" if roll < 0.70
                         else f"{year}-{month:02d}" if roll < 0.90
                         else str(year) if roll < 0.97 else "")
            status = "completed" if kind == "discussion" and r.random() < 0.7 else status_pick(r)
            if k >= 10 and r.random() < 0.5:
                status = "open"
            names = [self.display(p) for p in pids[:3]]
            title = self._title(kind, topic, pids, location)
            summary = ""
            if r.random() < 0.7:
                who = " and ".join(names[:2]) if len(names) > 1 else names[0]
                verb = "discussed" if kind == "discussion" else r.choice(
                    ("agreed to cooperate on", "will work together on", "signed a document on",
                     "committed to develop"))
                summary = f"{who} {verb} {topic}."
                if len(pids) > 3:
                    summary += f" {len(pids) - 2} other parties joined."
                if r.random() < 0.005:
                    summary += "\nSecond paragraph: details follow in the annex."
            n_src = r.choice((1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3))
            srcs = list(dict.fromkeys(source_pick(r) for _ in range(n_src)))
            stem = stems.get(topic) or stems.setdefault(topic, slug(topic, 40))
            aid = f"{stem}-{i + 1}"
            rows.append([aid, title, kind, signed_on, event, location, status, ";".join(themes),
                         summary, ";".join(srcs)])
            parts.append(self._participation(aid, kind, pids))
            if kind != "discussion" and r.random() < 0.1:
                choices = self.metrics[top_of[themes[0]]]
                for spec in r.sample(choices, min(len(choices), r.choice((1, 1, 1, 2, 2, 3)))):
                    targets.append(self._target(aid, topic, spec))
        return rows, parts, targets

    def display(self, pid: str) -> str:
        party = self.parties_by_id[pid]
        return party.short or party.name

    def _title(self, kind: str, topic: str, pids: list[str], location: str) -> str:
        r = self.rng
        place = location.split(",")[0] if location else ""
        names = [self.display(p) for p in pids[:2]]
        between = f" between {' and '.join(names)}" if len(names) > 1 else ""
        if r.random() < 0.05:  # a long, official-sounding title (about 150 characters)
            full = [self.parties_by_id[p].name for p in pids[:3]]
            title = (f"{kind.replace('_', ' ').capitalize()} of cooperation between "
                     f"{join_names(full)} on {topic} and the related investment programme"
                     + (f" in {place}" if place else ""))
            return title if len(title) <= 220 else title[:219].rsplit(" ", 1)[0] + "…"
        if r.random() < 0.01:
            return f'{kind.replace("_", " ").capitalize()} on a "{topic.capitalize()}" project'
        templates = {
            "memorandum": (f"Memorandum of understanding on {topic}", f"Memorandum on {topic}"
                           + between, f"MoU on {topic}" + (f" in {place}" if place else "")),
            "agreement": (f"Agreement on {topic}", f"Cooperation agreement on {topic}" + between,
                          f"Framework agreement on {topic}"),
            "declaration": (f"{place or 'Joint'} Declaration on {topic}",
                            f"Joint declaration on {topic}"),
            "charter": (f"Charter of the {topic} partnership", f"Charter on {topic}"),
            "joint_venture": (f"Joint venture for {topic}" + (f" in {place}" if place else ""),
                              f"Joint venture agreement on {topic}" + between),
            "contract": (f"Contract for {topic}", f"EPC contract for {topic}",
                         f"Supply contract for {topic}" + between),
            "discussion": (f"Discussions on {topic}", f"Round table on {topic}"),
            "other": (f"Roadmap for {topic}", f"Letter of intent on {topic}",
                      f"Action plan on {topic}"),
        }
        return r.choice(templates[kind])

    def _participation(self, aid: str, kind: str, pids: list[str]) -> list[list[str]]:
        r = self.rng
        rows: list[list[str]] = []
        for pos, pid in enumerate(pids):
            if kind == "discussion":
                role = "initiator" if pos == 0 else "partner"
            elif kind == "declaration":
                role = "initiator" if pos == 0 and r.random() < 0.5 else "signatory"
            elif kind == "joint_venture":
                role = "joint_venture" if pos == len(pids) - 1 and pos > 0 else "partner"
            else:
                roll = r.random()
                role = ("signatory" if roll < 0.80 else "technology_provider" if roll < 0.90
                        else "beneficiary" if roll < 0.95 else "partner" if roll < 0.99
                        else "other")
            certainty = "inferred" if r.random() < INFERRED_RATE else "stated"
            note = ""
            if certainty == "inferred":
                note = "Inferred from the list of signatories in the press release"
            elif r.random() < 0.04:
                note = r.choice(NOTES)
            rows.append([aid, pid, role, certainty, note])
            if r.random() < 0.01:  # the same party in a second role
                second = "beneficiary" if role != "beneficiary" else "partner"
                rows.append([aid, pid, second, "stated", ""])
        return rows

    def _target(self, aid: str, topic: str, spec: tuple) -> list[str]:
        """One target; distinct metrics give distinct descriptions within an agreement."""
        r = self.rng
        metric, unit, describe, (low, high), decimals, _ = spec
        value = round(r.uniform(low, high), decimals)
        text = f"{value:.{decimals}f}"
        year = str(r.randint(2025, 2050))
        if r.random() < 0.1:  # words only
            return [aid, describe.format(x=topic), "", "", "", year if r.random() < 0.5 else ""]
        return [aid, describe.format(x=topic), metric, text, unit, year]

    def cover_idle_parties(self, rows: list[list[str]], parts: list[list[list[str]]]) -> int:
        """Add each party that takes part in nothing (even below it) to some agreement."""
        r = self.rng
        parent = {p.pid: p.parent for p in self.parties}
        active: dict[str, None] = {}

        def mark(pid: str) -> None:
            while pid and pid not in active:
                active[pid] = None
                pid = parent.get(pid, "")

        for agreement in parts:
            for row in agreement:
                mark(row[1])
        added = 0
        for party in reversed(self.parties):  # children were created after their parents
            if party.pid in active:
                continue
            j = r.randrange(len(rows))
            kind = rows[j][2]
            role = "partner" if kind in ("discussion", "joint_venture") else "signatory"
            parts[j].append([rows[j][0], party.pid, role, "stated", ""])
            mark(party.pid)
            added += 1
        return added

    def sources(self, count: int) -> list[list[str]]:
        r = self.rng
        out = []
        for i in range(count):
            publisher, domain = PUBLISHERS[i % len(PUBLISHERS)]
            theme = r.choice(THEMES)
            year, month, day = r.randint(2016, 2025), r.randint(1, 12), r.randint(1, 28)
            published = f"{year}-{month:02d}-{day:02d}"
            lead = r.choice(("New agreements on", "Deals signed on", "Partners unite on"))
            headline = f"{lead} {r.choice(theme[4])}"
            accessed = f"{min(2025, year + r.randint(0, 1))}-{r.randint(1, 12):02d}-" \
                       f"{r.randint(1, 28):02d}"
            if accessed < published:
                accessed = published
            url = f"https://www.{domain}/{year}/{month:02d}/{slug(headline, 60)}-{i + 1}"
            out.append([f"src-{i + 1:02d}", publisher, headline,
                        url if r.random() < 0.95 else "", published,
                        accessed if r.random() < 0.8 else ""])
        return out

    @staticmethod
    def date_sources_after_their_agreements(rows: list[list[str]],
                                            sources: list[list[str]]) -> None:
        """A source reports what happened before it: its access date is moved, where needed,
        to the earliest day of the latest agreement it reports (real data has the odd
        exception, which the job warns about; a synthetic set of thousands would not help)."""
        latest: dict[str, str] = {}
        for row in rows:  # agreement_id, title, kind, signed_on, ..., source_ids
            signed = row[3]
            if not signed:
                continue
            day = signed + "-01-01"[len(signed) - 4:] if len(signed) < 10 else signed
            for sid in row[9].split(";"):
                latest[sid] = max(latest.get(sid, ""), day)
        for source in sources:  # source_id, publisher, title, url, published_on, accessed_on
            newest = max(source[4], source[5])
            if latest.get(source[0], "") > newest:
                source[5] = latest[source[0]]

    def build(self) -> Tables:
        self.government_side()
        self.companies()
        self.organisations()
        self.parties_by_id = {p.pid: p for p in self.parties}
        rows, parts, targets = self.agreements()
        self.cover_idle_parties(rows, parts)
        themes = [[t[0], t[1], t[2], t[3]] for t in THEMES]
        parties = [[p.pid, p.name, p.short, p.kind, p.country, p.parent, p.aliases]
                   for p in self.parties]
        participation = [row for agreement in parts for row in agreement]
        sources = self.sources(self.n_sources)
        self.date_sources_after_their_agreements(rows, sources)
        data = {"agreements": rows, "parties": parties, "participation": participation,
                "themes": themes, "targets": targets, "sources": sources}
        return {spec.name: (list(spec.column_names), data[spec.name]) for spec in fmt.TABLES}


def join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _check_enumerations() -> None:
    """Fail loudly if the format's enumerations change under this generator."""
    assert set(KIND_WEIGHTS) == set(fmt.AGREEMENT_KINDS), "agreement kinds changed"
    assert set(STATUS_WEIGHTS) == set(fmt.STATUSES), "statuses changed"
    assert {t[0] for t in THEMES if not t[2]} >= set(fmt.REQUIRED_TOP_THEMES)
    expected = {"agreements": 10, "parties": 7, "participation": 5, "themes": 4,
                "targets": 6, "sources": 6}
    for spec in fmt.TABLES:
        assert len(spec.columns) == expected[spec.name], f"columns of {spec.name} changed"


def generate(agreements: int = 1000, seed: int = 1, max_parties: int | None = None) -> Tables:
    """The six tables of a valid synthetic data set: table -> (header, rows).

    `max_parties` caps the parties drawn for one agreement (default: the long tail up
    to 60); parties added so that every party takes part somewhere may exceed it.
    """
    if agreements < 1:
        raise ValueError("at least one agreement")
    if max_parties is not None and max_parties < 1:
        raise ValueError("max_parties must be at least 1")
    return _Generator(agreements, seed, max_parties).build()


def write_sources(tables: Tables, folder: Path) -> dict[str, int]:
    """Write the six CSV files (UTF-8, no BOM, LF line ends); returns rows per table."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, (header, rows) in tables.items():
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        counts[name] = len(rows)
    return counts


class FolderNotEmpty(Exception):
    pass


def make_sources(folder: Path, agreements: int = 1000, seed: int = 1,
                 overwrite: bool = False, max_parties: int | None = None) -> dict[str, int]:
    """Generate and write a data set into `folder` (refused if non-empty, unless overwrite)."""
    if folder.exists() and not folder.is_dir():
        raise FolderNotEmpty(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FolderNotEmpty(f"{folder} is not empty; use --overwrite to replace its CSV files")
    return write_sources(generate(agreements, seed, max_parties), folder)
