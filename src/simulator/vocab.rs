//! Word lists the world generator draws from.
//!
//! Kept deliberately varied (accents, CJK, emoji, `&`, quotes) so exports are
//! exercised on awkward text, while every email stays a valid ASCII address.

/// First names: (display form, ASCII form used in emails).
pub(crate) const FIRST_NAMES: &[(&str, &str)] = &[
    ("Alice", "alice"),
    ("Bob", "bob"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Amélie", "amelie"),
    ("Mohammed", "mohammed"),
    ("Priya", "priya"),
    ("Chen", "chen"),
    ("Yuki", "yuki"),
    ("Olga", "olga"),
    ("Kwame", "kwame"),
    ("Fatima", "fatima"),
    ("Liam", "liam"),
    ("Noah", "noah"),
    ("Emma", "emma"),
    ("Mia", "mia"),
    ("Ingrid", "ingrid"),
    ("Mateo", "mateo"),
    ("Aisha", "aisha"),
    ("Dmitri", "dmitri"),
    ("Siobhán", "siobhan"),
    ("Björn", "bjorn"),
    ("Tomás", "tomas"),
    ("Hana", "hana"),
    ("Ravi", "ravi"),
    ("Grace", "grace"),
    ("O'Neil", "oneil"),
    ("Jean-Luc", "jeanluc"),
    ("Ana", "ana"),
    ("Kenji", "kenji"),
];

/// Last names: (display form, ASCII form used in emails).
pub(crate) const LAST_NAMES: &[(&str, &str)] = &[
    ("Martin", "martin"),
    ("Smith", "smith"),
    ("García", "garcia"),
    ("Müller", "muller"),
    ("Kowalski", "kowalski"),
    ("Nguyen", "nguyen"),
    ("Okafor", "okafor"),
    ("Rossi", "rossi"),
    ("Dubois", "dubois"),
    ("Tanaka", "tanaka"),
    ("Johansson", "johansson"),
    ("Silva", "silva"),
    ("O'Brien", "obrien"),
    ("Patel", "patel"),
    ("Ivanova", "ivanova"),
    ("Kim", "kim"),
    ("van der Berg", "vanderberg"),
    ("Haddad", "haddad"),
    ("Brown", "brown"),
    ("Wang 王", "wang"),
    ("Fernández", "fernandez"),
    ("Novak", "novak"),
    ("Lee", "lee"),
    ("Andersen", "andersen"),
];

/// Email domains.
pub(crate) const DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "proton.me",
    "acme.io",
    "globex.com",
    "initech.net",
    "umbrella.dev",
    "example.org",
    "hooli.xyz",
    "piedpiper.com",
    "tyrell.co",
];

/// (country, region, city, country_code, continent_code).
pub(crate) const LOCATIONS: &[(&str, &str, &str, &str, &str)] = &[
    ("United States", "California", "San Francisco", "US", "NA"),
    ("United States", "New York", "New York", "US", "NA"),
    ("Ireland", "Leinster", "Dublin", "IE", "EU"),
    ("Germany", "Berlin", "Berlin", "DE", "EU"),
    ("France", "Île-de-France", "Paris", "FR", "EU"),
    ("Brazil", "São Paulo", "São Paulo", "BR", "SA"),
    ("Japan", "Tokyo", "Tokyo", "JP", "AS"),
    ("India", "Karnataka", "Bengaluru", "IN", "AS"),
    ("Nigeria", "Lagos", "Lagos", "NG", "AF"),
    ("Australia", "New South Wales", "Sydney", "AU", "OC"),
    ("Poland", "Mazowieckie", "Warszawa", "PL", "EU"),
    ("Canada", "Québec", "Montréal", "CA", "NA"),
];

/// (browser, major versions).
pub(crate) const BROWSERS: &[(&str, &[&str])] = &[
    (
        "chrome",
        &["124.0.0.0", "125.0.0.0", "126.0.0.0", "131.0.0.0"],
    ),
    ("firefox", &["126.0", "128.0", "133.0"]),
    ("safari", &["17.4", "17.5", "18.1"]),
    ("edge", &["125.0.2535.51", "131.0.2903.70"]),
];

/// Operating systems.
pub(crate) const OSES: &[&str] = &[
    "OS X 14.5",
    "Windows 10",
    "Windows 11",
    "Linux",
    "iOS 17.5",
    "Android 14",
    "ChromeOS",
];

/// Browser languages.
pub(crate) const LANGUAGES: &[&str] = &["en", "en-GB", "de", "fr", "pt-BR", "ja", "es", "pl"];

/// Contact `plan` custom attribute values.
pub(crate) const PLANS: &[&str] = &["free", "starter", "pro", "enterprise"];

/// Contact `Tier ✨` custom attribute values.
pub(crate) const TIERS: &[&str] = &["Gold 🥇", "Silver", "Bronze", "—"];

/// Workspace tags: (id, name).
pub(crate) const TAGS: &[(u64, &str)] = &[
    (9_100_001, "VIP"),
    (9_100_002, "Churn risk"),
    (9_100_003, "beta"),
    (9_100_004, "Enterprise 🚀"),
    (9_100_005, "needs follow-up"),
    (9_100_006, "bug"),
    (9_100_007, "feature request"),
    (9_100_008, "Billing & invoices"),
];

/// Admins (teammates): (name, email local part, job title, team index).
pub(crate) const ADMINS: &[(&str, &str, &str, usize)] = &[
    ("Ciara Byrne", "ciara", "Head of Support", 0),
    ("Marcus Webb", "marcus", "Support Engineer", 0),
    ("Ines Duarte", "ines", "Support Engineer", 0),
    ("Tobias Lange", "tobias", "Customer Success Manager", 1),
    ("Mei Lin", "mei", "Customer Success Manager", 1),
    ("Rahul Mehta", "rahul", "Account Executive", 2),
    ("Sarah O'Connor", "sarah", "Account Executive", 2),
    ("Jonas Berg", "jonas", "Billing Specialist", 3),
    ("Aylin Kaya", "aylin", "Billing Specialist", 3),
    ("David Cohen", "david", "Support Engineer", 0),
    ("Naomi Sato", "naomi", "Technical Writer", 1),
    ("Pedro Alves", "pedro", "Support Engineer", 0),
];

/// Numeric id of admin `i` (index into [`ADMINS`]).
pub(crate) fn admin_id(i: usize) -> u64 {
    5_810_001 + (i as u64) * 7
}

/// Numeric id of the workspace bot ("Fin").
pub(crate) const BOT_ID: u64 = 5_809_990;

/// Teams: (id, name).
pub(crate) const TEAMS: &[(u64, &str)] = &[
    (6_100_001, "Support"),
    (6_100_002, "Customer Success"),
    (6_100_003, "Sales"),
    (6_100_004, "Billing"),
];

/// Workspace names.
pub(crate) const WORKSPACES: &[&str] = &[
    "Acme Analytics",
    "Globex Cloud",
    "Initech Payments",
    "Umbrella Health",
    "Hooli Mail",
];

/// Conversation subjects / titles.
pub(crate) const SUBJECTS: &[&str] = &[
    "Can't log in after password reset",
    "Invoice #4471 looks wrong",
    "How do I export my data?",
    "Feature request: dark mode 🌙",
    "API returns 429 Too Many Requests",
    "Upgrade from Starter to Pro",
    "Refund for duplicate charge",
    "SSO/SAML setup with Okta",
    "Webhook deliveries delayed",
    "Question about \"seats\" & billing",
    "Données manquantes dans le rapport",
    "Integration with Salesforce",
];

/// Opening messages from contacts (HTML).
pub(crate) const USER_MESSAGES: &[&str] = &[
    "<p>Hi, I reset my password but I still can't sign in. Any idea?</p>",
    "<p>Our last invoice charged us for 12 seats, we only have 9 &amp; I'd like a correction.</p>",
    "<p>Is there a way to export all of our data to CSV?</p>",
    "<p>Would love a dark mode 🌙 – the app is very bright at night.</p>",
    "<p>We keep getting <code>429</code> responses from the API since this morning.</p>",
    "<p>Hello! How do I upgrade? The <a href=\"https://app.example.com/billing\">billing page</a> shows an error.</p>",
    "<p>I was charged twice this month, can you refund one of them?</p>",
    "<p>We're setting up SAML with Okta and get \"invalid audience\".</p>",
    "<p>Bonjour, il manque des données dans le rapport d'hier.</p>",
    "<p>Thanks, that worked!</p>",
    "<p>Still seeing the problem, screenshot attached.<br>Any update?</p>",
];

/// Replies from teammates (HTML).
pub(crate) const ADMIN_MESSAGES: &[&str] = &[
    "<p>Thanks for reaching out! Let me look into that for you.</p>",
    "<p>You can export everything from <a href=\"https://app.example.com/settings/export\">Settings → Export</a>.</p>",
    "<p>I've issued the refund; it should show up in 5–10 business days.</p>",
    "<p>Could you send us the request id from the response headers?</p>",
    "<p>Our engineers deployed a fix, can you try again?</p>",
    "<p>Happy to help 😊 Is there anything else?</p>",
    "<p>I've corrected the invoice &amp; sent an updated PDF.</p>",
];

/// Internal notes (HTML).
pub(crate) const NOTES: &[&str] = &[
    "<p>Checked Stripe: two charges on the same day.</p>",
    "<p>Escalated to engineering, see <a href=\"https://linear.app/acme/issue/SUP-123\">SUP-123</a>.</p>",
    "<p>Customer is on the legacy plan; don't offer the discount.</p>",
    "<p>@Marcus can you take this one?</p>",
];

/// Bot messages (HTML).
pub(crate) const BOT_MESSAGES: &[&str] = &[
    "<p>Hi there 👋 I'm Fin, an AI agent. How can I help?</p>",
    "<p>Here is an article that may help: <a href=\"https://help.example.com/articles/42\">Resetting your password</a>.</p>",
    "<p>I'll pass you to the team. They usually reply in a few hours.</p>",
];

/// Conversation `Category` custom attribute values.
pub(crate) const CATEGORIES: &[&str] = &["Billing", "Bug", "How-to", "Account", "Sales"];

/// Rating remarks.
pub(crate) const REMARKS: &[&str] = &["Super quick, thanks!", "Took a while.", "", "Très bien 👍"];
