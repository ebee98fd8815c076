"""Words the synthetic organisation is written in: units, people, metrics, goals, work.

Plain tuples, so the generator picks from them with its seeded random source and the
same seed always spells the same organisation.
"""

from __future__ import annotations

from typing import NamedTuple

DIVISIONS = (
    "Commercial",
    "Operations & Supply",
    "Product & Technology",
    "Customer Service",
    "Finance & Administration",
    "People & Culture",
    "Research & Development",
    "Manufacturing",
    "Digital",
    "Logistics",
    "Brand & Communications",
    "Partnerships",
)

REGIONS = ("EMEA", "Americas", "APAC", "Nordics", "DACH", "Iberia", "Benelux", "UK & Ireland")

DEPARTMENTS = (
    "Sales",
    "Marketing",
    "E-commerce",
    "Retail",
    "Operations",
    "Production",
    "Engineering",
    "Quality Control",
    "Distribution",
    "Lab",
    "Product",
    "Customer Support",
    "Customer Experience",
    "Field Service",
    "Finance",
    "Procurement",
    "Legal",
    "Data & Analytics",
    "Platform",
    "Security",
    "Recruiting",
    "Learning",
    "Facilities",
    "Design",
)

TEAM_WORDS = (
    "Falcon",
    "Harbour",
    "Atlas",
    "Beacon",
    "Cedar",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Horizon",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nova",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Ridge",
    "Summit",
    "Tide",
    "Umber",
    "Vector",
    "Willow",
)

FIRST_NAMES = (
    "Ada",
    "Aiko",
    "Amara",
    "Ben",
    "Carlos",
    "Chen",
    "Dana",
    "Elif",
    "Ella",
    "Farah",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mia",
    "Noah",
    "Omar",
    "Priya",
    "Ravi",
    "Sam",
    "Tomás",
    "Uma",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoe",
)

LAST_NAMES = (
    "Berg",
    "Chen",
    "Duarte",
    "Fischer",
    "Haddad",
    "Ivanova",
    "Kowalski",
    "Lindqvist",
    "Mensah",
    "Menon",
    "Nair",
    "Novak",
    "Okafor",
    "Park",
    "Rossi",
    "Ruiz",
    "Schmidt",
    "Tanaka",
    "Williams",
    "Yilmaz",
)


class Metric(NamedTuple):
    """Something a key result can measure; `up` says which way is better."""

    name: str
    measure: str
    low: float
    high: float
    up: bool
    ceiling: float | None = None  # e.g. 100 for a percentage


METRICS = (
    Metric("product-page visits", "visits", 1_000, 50_000, True),
    Metric("qualified leads", "leads", 50, 2_000, True),
    Metric("net promoter score", "NPS", 10, 60, True, 100),
    Metric("customer satisfaction", "%", 70, 95, True, 100),
    Metric("on-time delivery", "%", 80, 97, True, 100),
    Metric("first-contact resolution", "%", 60, 90, True, 100),
    Metric("monthly recurring revenue", "kEUR", 100, 5_000, True),
    Metric("returning visitors", "visitors", 500, 20_000, True),
    Metric("units shipped", "units", 500, 20_000, True),
    Metric("pre-orders", "orders", 200, 10_000, True),
    Metric("employee engagement", "score", 60, 85, True, 100),
    Metric("automated test coverage", "%", 40, 85, True, 100),
    Metric("average handling time", "min", 4, 15, False),
    Metric("page load time", "s", 1.5, 6, False),
    Metric("defect rate", "%", 0.5, 8, False),
    Metric("cost per order", "EUR", 5, 40, False),
    Metric("onboarding time", "days", 3, 30, False),
    Metric("open tickets", "tickets", 20, 500, False),
    Metric("customer churn", "%", 1, 8, False),
    Metric("cart abandonment", "%", 40, 80, False),
    Metric("lead time to production", "days", 2, 20, False),
    Metric("customer acquisition cost", "EUR", 20, 300, False),
)

KPI_METRICS = (
    Metric("Customer acquisition cost", "EUR", 40, 250, False),
    Metric("Customer lifetime value", "EUR", 300, 3_000, True),
    Metric("Response time", "min", 2, 30, False),
    Metric("Net revenue retention", "%", 90, 120, True),
    Metric("Gross margin", "%", 30, 60, True, 100),
    Metric("Order lead time", "days", 2, 15, False),
    Metric("Conversion rate", "%", 1, 6, True, 100),
    Metric("Ticket backlog", "tickets", 50, 800, False),
    Metric("Production efficiency", "%", 60, 90, True, 100),
    Metric("Employee turnover", "%", 5, 20, False),
)

DELIVERABLES = (
    "Checkout API",
    "Campaign landing page",
    "Trained operators",
    "Installed test rig",
    "Pricing sheet",
    "Support macros",
    "Inventory forecast",
    "Release candidate",
    "Packaging design",
    "Data export",
    "Partner contract",
    "Security review",
    "Sales playbook",
    "Demo environment",
    "Translated product copy",
    "Warehouse slot plan",
    "Dashboard for weekly review",
    "Hiring plan",
    "Supplier quote",
    "Training videos",
)

MILESTONE_STEPS = (
    "Scope agreed",
    "Design reviewed",
    "Built",
    "Tested",
    "Piloted",
    "Rolled out",
    "Documented",
)

OBJECTIVE_VERBS = (
    "Grow",
    "Delight customers with",
    "Make",
    "Scale",
    "Simplify",
    "Win",
    "Strengthen",
    "Launch",
    "Modernise",
    "Speed up",
)

OBJECTIVE_THEMES = (
    "the new product line",
    "onboarding",
    "checkout",
    "our partner channel",
    "self-service support",
    "Production Line A",
    "the SmartHome Pro launch",
    "repeat purchases",
    "delivery reliability",
    "the data platform",
    "field service quality",
    "the running-shoe range",
    "enterprise accounts",
    "the mobile experience",
    "hiring and onboarding of staff",
)

COMPANY_OBJECTIVES = (
    "Become the first choice of our customers",
    "Grow revenue profitably",
    "Launch new products customers love",
    "Run operations that never let a customer down",
    "Be a great place to work",
)

INITIATIVE_VERBS = ("Build", "Pilot", "Roll out", "Redesign", "Automate", "Train", "Migrate")

DECLINE_REASONS = (
    "No capacity this quarter",
    "Conflicts with a committed launch",
    "Out of our scope; ask Platform",
    "Needs budget we do not have",
)

NOTES = (
    "On track.",
    "Slower week: holidays.",
    "New numbers from the weekly report.",
    "Waiting on a peer team.",
    "Good progress after the workshop.",
    "Data source fixed; numbers are reliable again.",
)

BLOCKERS = (
    "Waiting for the API from another team",
    "Two people out sick",
    "Supplier delivery late",
    "Approval pending",
)
