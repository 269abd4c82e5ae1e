//! `telestate demo`: a lived-in estate to click through, on a simulated Microsoft Teams
//! tenant that runs in the same process, so sync, provisioning, jobs and drift all work
//! with no Microsoft account.
//!
//! Every start runs the Graph simulator (`graph_sim`) on a free loopback port with a
//! fresh in-memory tenant, fills that tenant the same way each time — the directory
//! (people, groups by department, resource accounts, all with fixed object ids) and every
//! inventory number of the demo's Teams platform, assigned in Teams as the inventory says
//! it is provisioned — and points the platform at this run's port. The in-process worker
//! does the rest: it syncs the directory, provisions the queued jobs and lists Teams'
//! numbers for drift.
//!
//! The first start (a database without locations) also seeds the estate, through the
//! store's ordinary audited functions: sites, ranges and services, the Teams platform,
//! one directory sync (so the directory really comes from Entra's API), and then 90 days
//! of history — assignments, leavers' numbers going into quarantine, reservations —
//! through `lifecycle::apply`, each dated when it happened with `store::backdate::as_of`
//! (the dashboard's forecast needs a rate, and a rate needs days). Those assignments
//! write provisioning jobs like any other, and the worker carries them out against the
//! simulator; today's new starters are assigned at the real time.
//!
//! Once the numbers it needs are provisioned, every start changes a handful of numbers
//! on Teams' side only ([`DRIFT`]), so the next sync reports every kind of drift.
//!
//! Everything is generated from fixed tables and a fixed seed: two first starts seed the
//! same estate, and a later start finds the objects it expects.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use chrono::{Days, NaiveDateTime, NaiveTime};
use domain::{
    NumberBlock, NumberStatus, NumberType, Permit, PhoneNumber, ProvisioningState, Scope, Source,
    Tag, Target, TargetKind,
};
use graph_sim::{SimConfig, SimNumber, SimUser, Simulator, Tenant};
use store::{
    Db, StoreError, StoreResult,
    lifecycle::Request,
    locations::LocationInput,
    numbers::{NewNumber, Number},
    ranges::NewRange,
    secrets::SecretKey,
};

/// The demo's Teams platform.
pub const PLATFORM_NAME: &str = "Contoso Teams (simulated)";
/// Seconds between the platform's directory syncs: short, so changes made in the
/// simulator show quickly.
pub const SYNC_INTERVAL_SECONDS: i64 = 60;
/// The simulated tenant's directory (tenant) id.
const TENANT_ID: &str = "c0a7050d-0000-4000-8000-00000000c0de";
/// The app registration the platform signs in as.
const CLIENT_ID: &str = "c0a7050d-0000-4000-8000-0000000a9901";
/// Its client secret, stored sealed on the platform like a real one.
const CLIENT_SECRET: &str = "demo-simulated-tenant-secret";
/// The tenant's sign-in domain.
const DOMAIN: &str = "contoso.example";
/// The seed of every generated choice (names, days, titles) and of the simulator.
const SEED: u64 = 0x7e1e_57a7e;
/// Days of history the seeding replays.
const HISTORY_DAYS: u64 = 90;

/// How a demo run is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The largest range the installation allows (the demo's ranges are far smaller).
    pub max_range_size: u64,
    /// How long Teams' assign/unassign operations stay `running` in the simulator.
    pub operation_delay: Duration,
}

/// A running demo: the simulator and the platform that points at it.
pub struct Demo {
    /// The Graph simulator; it lives as long as this value (stop it with [`Demo::stop`]).
    pub sim: Simulator,
    /// The Teams platform's id.
    pub platform_id: i64,
    /// This start seeded the estate.
    pub first_start: bool,
}

impl Demo {
    /// Stops the simulator.
    pub async fn stop(self) {
        self.sim.stop().await;
    }
}

/// Starts the simulator with the demo tenant and gets the database ready: seeds the
/// estate on a first start, points the platform at this run's simulator on every start.
/// Runs inside the actix system (the simulator is served on it); the database work runs
/// on the blocking pool. Drift comes afterwards, from [`introduce_drift`].
pub async fn start(db: &Db, secret_key: &SecretKey, options: Options) -> anyhow::Result<Demo> {
    let started = std::time::Instant::now();
    let sim = Simulator::start(sim_config(options.operation_delay), "127.0.0.1:0")
        .await
        .context("starting the Graph simulator for the demo tenant")?;
    let plan = Arc::new(Plan::build());
    populate_directory(&sim.tenant(), &plan);
    let urls = (sim.graph_base_url(), sim.login_base_url());

    let (d, key, u) = (db.clone(), secret_key.clone(), urls.clone());
    let found = blocking(move || {
        if is_empty(&d)? {
            Ok(None)
        } else {
            Ok(Some(repoint(&d, &key, &u)?))
        }
    })
    .await?;
    let (platform_id, first_start) = match found {
        Some(id) => {
            mirror_inventory(db, &sim.tenant(), id).await?;
            (id, false)
        }
        None => {
            let (d, key, p) = (db.clone(), secret_key.clone(), plan.clone());
            let max = options.max_range_size;
            let id = blocking(move || seed_estate(&d, &key, &p, &urls, max)).await?;
            mirror_inventory(db, &sim.tenant(), id).await?;
            first_sync(db, secret_key, id).await?;
            let (d, p) = (db.clone(), plan.clone());
            blocking(move || seed_history(&d, &p, id)).await?;
            (id, true)
        }
    };
    tracing::info!(
        demo.first_start = first_start,
        duration_ms = started.elapsed().as_millis() as u64,
        sim.graph = %sim.graph_base_url(),
        "demo tenant ready"
    );
    Ok(Demo {
        sim,
        platform_id,
        first_start,
    })
}

/// Runs blocking database work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("demo seeding task panicked")?
}

fn store_err(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn permit() -> Permit {
    Permit::system("demo", Source::Cli)
}

fn sim_config(operation_delay: Duration) -> SimConfig {
    SimConfig {
        tenant_id: TENANT_ID.into(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        operation_delay,
        seed: SEED,
        ..SimConfig::default()
    }
}

/// A database the demo has not seeded: no locations yet.
fn is_empty(db: &Db) -> anyhow::Result<bool> {
    let existing = db
        .read(|c| store::locations::list(c, &Scope::unrestricted(), None, None, None, Some(1)))
        .map_err(store_err)?;
    Ok(existing.items.is_empty())
}

/// A later start: points the demo platform at this run's simulator (the port changes
/// every run) and forgets the last run's delta links (they name the old port; the next
/// sync reads everything, which the fresh tenant needs anyway). Returns the platform's
/// id. The sync is requested by [`introduce_drift`], once Teams' side is as it should be.
fn repoint(db: &Db, key: &SecretKey, (graph, login): &(String, String)) -> anyhow::Result<i64> {
    let id = db
        .read(store::platforms::teams_platforms)
        .map_err(store_err)?
        .into_iter()
        .find(|(_, name)| name == PLATFORM_NAME)
        .map(|(id, _)| id)
        .with_context(|| {
            format!(
                "this database has demo data but no platform '{PLATFORM_NAME}' (seeded by an older version?): start the demo on a fresh database (remove data/demo.db)"
            )
        })?;
    db.write(|c| {
        let sealer = store::settings::sealer(c, key)?;
        let patch = store::platforms::PlatformPatch {
            graph_base_url: Some(Some(graph.clone())),
            login_base_url: Some(Some(login.clone())),
            ..Default::default()
        };
        store::platforms::update(c, &permit(), &sealer, id, patch, None)?;
        store::sync::forget_links(c, id)
    })
    .map_err(store_err)?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------
// The fixed tables.

/// A demo site and its one range of Teams numbers.
struct Site {
    name: &'static str,
    country: &'static str,
    country_name: &'static str,
    city: &'static str,
    region: &'static str,
    address: &'static str,
    range_name: &'static str,
    /// First number of the range.
    first: &'static str,
    /// Numbers in the range.
    size: u64,
    tags: &'static [&'static str],
    number_type: NumberType,
    /// People working there.
    people: usize,
    /// Departments and how many of every 100 people work in them.
    departments: &'static [(&'static str, u32)],
    given: &'static [&'static str],
    surnames: &'static [&'static str],
}

const UK_GIVEN: &[&str] = &[
    "Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Noah", "Mia", "Jack", "Grace", "Leo",
    "Freya", "Arthur", "Lily", "Oscar", "Emily", "Charlie", "Sophie", "Thomas", "Ella", "James",
    "Poppy", "William", "Evie", "Henry", "Chloe", "Alfie", "Ruby", "Joshua", "Hannah", "Samuel",
    "Zara", "Daniel", "Priya", "Mohammed", "Aisha", "Ryan", "Niamh", "Callum", "Megan",
];
const UK_SURNAMES: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Wright", "Robinson", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Hughes", "Edwards", "Turner", "Khan", "Lewis", "Harris",
    "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Baker", "Shah", "Murphy",
    "Kelly", "Bennett", "Ahmed",
];
const US_GIVEN: &[&str] = &[
    "Liam",
    "Olivia",
    "Ethan",
    "Emma",
    "Mason",
    "Sophia",
    "Logan",
    "Isabella",
    "Lucas",
    "Charlotte",
    "Aiden",
    "Harper",
    "Elijah",
    "Abigail",
    "Carter",
    "Madison",
    "Jayden",
    "Avery",
    "Gabriel",
    "Ella",
    "Michael",
    "Scarlett",
    "Benjamin",
    "Grace",
    "Matthew",
    "Chloe",
    "David",
    "Layla",
    "Jose",
    "Camila",
    "Andrew",
    "Maya",
    "Tyler",
    "Nora",
    "Kevin",
    "Zoe",
];
const US_SURNAMES: &[&str] = &[
    "Johnson",
    "Williams",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Moore",
    "Jackson",
    "Lee",
    "Perez",
    "Thompson",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Nguyen",
    "Hill",
    "Flores",
    "Rivera",
    "Cohen",
    "Kim",
    "Chen",
];
const DE_GIVEN: &[&str] = &[
    "Leon",
    "Emma",
    "Felix",
    "Hannah",
    "Lukas",
    "Mia",
    "Jonas",
    "Lena",
    "Maximilian",
    "Lea",
    "Paul",
    "Anna",
    "Finn",
    "Marie",
    "Elias",
    "Sophie",
    "Ben",
    "Laura",
    "Noah",
    "Johanna",
    "Jan",
    "Katharina",
    "Tobias",
    "Julia",
    "Moritz",
    "Clara",
    "Niklas",
    "Sarah",
    "Florian",
    "Lisa",
    "Sebastian",
    "Nina",
];
const DE_SURNAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Yilmaz",
];
const AU_GIVEN: &[&str] = &[
    "Jack",
    "Charlotte",
    "William",
    "Olivia",
    "Oliver",
    "Amelia",
    "Thomas",
    "Isla",
    "Lachlan",
    "Mia",
    "Cooper",
    "Matilda",
    "Riley",
    "Ruby",
    "Hamish",
    "Chloe",
    "Liam",
    "Zoe",
    "Ethan",
    "Sienna",
    "Wei",
    "Mei",
    "Arjun",
    "Anika",
];
const AU_SURNAMES: &[&str] = &[
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson", "Martin",
    "White", "Anderson", "Walker", "Thompson", "Thomas", "Lee", "Ryan", "Campbell", "Kelly",
    "Murphy", "Wang", "Singh", "Tran", "O'Brien", "Mitchell",
];

const SITES: &[Site] = &[
    Site {
        name: "London HQ",
        country: "GB",
        country_name: "United Kingdom",
        city: "London",
        region: "England",
        address: "1 Finsbury Avenue, London EC2M 2PF",
        range_name: "London DDI",
        first: "+442070000000",
        size: 600,
        tags: &["UK", "DDI"],
        number_type: NumberType::DirectRouting,
        people: 190,
        departments: &[
            ("Sales", 22),
            ("Support", 10),
            ("Engineering", 18),
            ("Finance", 14),
            ("Marketing", 10),
            ("People", 8),
            ("IT & Operations", 10),
            ("Legal", 8),
        ],
        given: UK_GIVEN,
        surnames: UK_SURNAMES,
    },
    Site {
        name: "Manchester",
        country: "GB",
        country_name: "United Kingdom",
        city: "Manchester",
        region: "England",
        address: "3 Hardman Street, Manchester M3 3HF",
        range_name: "Manchester support",
        first: "+441610000000",
        size: 250,
        tags: &["UK", "Support"],
        number_type: NumberType::DirectRouting,
        people: 80,
        departments: &[
            ("Support", 55),
            ("Sales", 15),
            ("Finance", 10),
            ("IT & Operations", 12),
            ("People", 8),
        ],
        given: UK_GIVEN,
        surnames: UK_SURNAMES,
    },
    Site {
        name: "New York",
        country: "US",
        country_name: "United States",
        city: "New York",
        region: "NY",
        address: "200 Park Avenue, New York, NY 10166",
        range_name: "NYC main",
        first: "+12125550000",
        size: 400,
        tags: &["US", "Sales"],
        number_type: NumberType::CallingPlan,
        people: 130,
        departments: &[
            ("Sales", 40),
            ("Support", 20),
            ("Marketing", 15),
            ("Finance", 10),
            ("Legal", 5),
            ("IT & Operations", 10),
        ],
        given: US_GIVEN,
        surnames: US_SURNAMES,
    },
    Site {
        name: "Berlin",
        country: "DE",
        country_name: "Germany",
        city: "Berlin",
        region: "Berlin",
        address: "Friedrichstraße 68, 10117 Berlin",
        range_name: "Berlin office",
        first: "+493012340000",
        size: 250,
        tags: &["DE", "Engineering"],
        number_type: NumberType::OperatorConnect,
        people: 80,
        departments: &[
            ("Engineering", 55),
            ("Sales", 15),
            ("Support", 15),
            ("People", 5),
            ("IT & Operations", 10),
        ],
        given: DE_GIVEN,
        surnames: DE_SURNAMES,
    },
    Site {
        name: "Sydney",
        country: "AU",
        country_name: "Australia",
        city: "Sydney",
        region: "NSW",
        address: "1 Macquarie Place, Sydney NSW 2000",
        range_name: "Sydney office",
        first: "+61290000000",
        size: 200,
        tags: &["APAC", "Support"],
        number_type: NumberType::DirectRouting,
        people: 60,
        departments: &[
            ("Support", 45),
            ("Sales", 35),
            ("IT & Operations", 10),
            ("Finance", 10),
        ],
        given: AU_GIVEN,
        surnames: AU_SURNAMES,
    },
];

/// Job titles per department: the first person of a department at a site gets the first
/// (the lead), the others one of the rest.
const TITLES: &[(&str, &[&str])] = &[
    (
        "Sales",
        &[
            "Head of Sales",
            "Account Executive",
            "Account Executive",
            "Account Manager",
            "Sales Development Rep",
            "Sales Engineer",
        ],
    ),
    (
        "Support",
        &[
            "Support Lead",
            "Support Engineer",
            "Support Engineer",
            "Senior Support Engineer",
            "Customer Success Manager",
        ],
    ),
    (
        "Engineering",
        &[
            "Engineering Manager",
            "Software Engineer",
            "Software Engineer",
            "Senior Software Engineer",
            "Site Reliability Engineer",
            "Staff Engineer",
            "QA Engineer",
        ],
    ),
    (
        "Finance",
        &[
            "Finance Director",
            "Accountant",
            "Financial Analyst",
            "Payroll Specialist",
            "Accounts Payable Clerk",
        ],
    ),
    (
        "Marketing",
        &[
            "Marketing Director",
            "Marketing Manager",
            "Content Strategist",
            "Product Marketing Manager",
            "Events Coordinator",
        ],
    ),
    (
        "People",
        &[
            "Head of People",
            "HR Business Partner",
            "Recruiter",
            "People Operations Specialist",
        ],
    ),
    (
        "IT & Operations",
        &[
            "IT Manager",
            "IT Support Analyst",
            "UC Engineer",
            "Network Engineer",
            "Office Manager",
            "Facilities Coordinator",
        ],
    ),
    (
        "Legal",
        &[
            "General Counsel",
            "Legal Counsel",
            "Paralegal",
            "Compliance Officer",
        ],
    ),
];

/// Groups: a department's (display name, department), plus "All Staff" and
/// "Teams Phone Users" (everyone the estate gives a number).
const DEPARTMENT_GROUPS: &[(&str, &str)] = &[
    ("Sales Team", "Sales"),
    ("Support Desk", "Support"),
    ("Engineering", "Engineering"),
    ("Finance", "Finance"),
    ("Marketing", "Marketing"),
    ("People & HR", "People"),
    ("IT & Operations", "IT & Operations"),
    ("Legal", "Legal"),
];

/// A service with its Teams resource account: (name, kind, site index, numbers,
/// description).
const SERVICES: &[(&str, &str, usize, usize, &str)] = &[
    (
        "Main Reception",
        "auto_attendant",
        0,
        2,
        "Front door: routes callers to sales, support or the operator",
    ),
    (
        "Sales Hotline",
        "call_queue",
        0,
        12,
        "Inbound sales enquiries, UK",
    ),
    (
        "Boardroom London",
        "conference_bridge",
        0,
        2,
        "Dial-in for the London HQ boardroom",
    ),
    ("Accounts Fax", "fax", 0, 3, "Fax lines of the finance team"),
    (
        "Support Queue",
        "call_queue",
        1,
        25,
        "First-line support, round robin over the Support Desk group",
    ),
    (
        "NYC Reception",
        "auto_attendant",
        2,
        2,
        "New York front desk",
    ),
    (
        "US Contact Centre",
        "contact_centre",
        2,
        50,
        "Inbound sales and service lines for North America",
    ),
    (
        "Berlin Empfang",
        "auto_attendant",
        3,
        2,
        "Berlin reception (German and English)",
    ),
    (
        "EMEA Support Hotline",
        "call_queue",
        3,
        10,
        "Second-line support for Europe",
    ),
    (
        "Sydney Reception",
        "auto_attendant",
        4,
        2,
        "Sydney front desk",
    ),
    (
        "APAC Support Queue",
        "call_queue",
        4,
        12,
        "Support for Asia-Pacific customers",
    ),
];

/// The Sales Hotline's extra summer-campaign numbers, released into quarantine since.
const CAMPAIGN_NUMBERS: usize = 4;

/// Numbers of a site held for something to come.
struct Hold {
    site: usize,
    count: usize,
    reason: &'static str,
    reserved_for: &'static str,
    days_ago: u64,
    /// Days from today; `None`: no expiry.
    expires_in_days: Option<u64>,
}

/// Reservations per site.
const RESERVATIONS: &[Hold] = &[
    Hold {
        site: 0,
        count: 20,
        reason: "New starters, autumn intake",
        reserved_for: "People team",
        days_ago: 14,
        expires_in_days: Some(45),
    },
    Hold {
        site: 1,
        count: 5,
        reason: "Porting test numbers",
        reserved_for: "UC engineering",
        days_ago: 3,
        expires_in_days: Some(10),
    },
    Hold {
        site: 2,
        count: 15,
        reason: "Marketing campaign lines",
        reserved_for: "Marketing: autumn campaign",
        days_ago: 30,
        expires_in_days: Some(60),
    },
    Hold {
        site: 3,
        count: 10,
        reason: "Expansion: third floor",
        reserved_for: "Facilities",
        days_ago: 21,
        expires_in_days: None,
    },
    Hold {
        site: 4,
        count: 8,
        reason: "New APAC support hires",
        reserved_for: "APAC Support Queue",
        days_ago: 7,
        expires_in_days: Some(30),
    },
];

/// Available numbers per site put in quarantine by hand 10 days ago.
const MANUAL_QUARANTINE: &[(usize, usize)] = &[(0, 10), (1, 5), (2, 8), (3, 4), (4, 3)];

// ---------------------------------------------------------------------------------------
// The generated plan.

/// SplitMix64: a fixed generator, so the demo is the same on every machine and version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

/// Object ids: `kind` 1 people, 3 resource accounts, 4 emergency locations.
fn object_id(kind: u32, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

/// One person in the demo tenant.
struct Person {
    id: String,
    upn: String,
    display_name: String,
    given: String,
    surname: String,
    department: &'static str,
    title: &'static str,
    site: usize,
    /// Disabled in Entra: a leaver, whose number went into quarantine.
    enabled: bool,
    /// The number the estate gives them, if any.
    number: Option<String>,
    /// Days ago they got it (0: today, at the real time).
    joined_days_ago: u64,
    /// Leavers: days ago their number was taken back.
    left_days_ago: Option<u64>,
}

/// A service and its resource account.
struct ServicePlan {
    name: &'static str,
    kind: &'static str,
    description: &'static str,
    account_id: String,
    upn: String,
    site: usize,
}

/// Something the seeding does, and when.
struct Step {
    /// Days ago and minutes after midnight; `None`: now, at the real time.
    when: Option<(u64, u32)>,
    number: String,
    action: Action,
}

enum Action {
    AssignUser(usize),
    AssignService(usize),
    Unassign(&'static str),
    Reserve {
        reason: &'static str,
        reserved_for: &'static str,
        expires_in_days: Option<u64>,
    },
    Quarantine {
        reason: &'static str,
        days: u64,
    },
}

/// A change made on Teams' side only, so a sync finds drift.
#[derive(Debug, Clone)]
enum DriftChange {
    /// A number Teams has and the inventory does not (`not_in_inventory`).
    TeamsOnly {
        number: String,
        number_type: NumberType,
        country: &'static str,
        target: Option<String>,
    },
    /// An available number assigned in Teams (`assigned_in_teams_only`).
    AssignFree { number: String, target: String },
    /// An assigned, provisioned number freed in Teams (`assigned_in_inventory_only`).
    Unassign { number: String },
    /// An assigned, provisioned number given to someone else in Teams
    /// (`different_target`).
    Move { number: String, target: String },
}

/// The whole demo, generated.
struct Plan {
    people: Vec<Person>,
    services: Vec<ServicePlan>,
    steps: Vec<Step>,
    drift: Vec<DriftChange>,
}

/// The E.164 `n` numbers after `first`.
fn offset(first: &str, n: u64) -> String {
    let digits: u64 = first[1..].parse().expect("demo numbers are digits");
    format!("+{}", digits + n)
}

fn ascii_local(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            'ä' => "ae".chars().collect::<Vec<_>>(),
            'ö' => "oe".chars().collect(),
            'ü' => "ue".chars().collect(),
            'ß' => "ss".chars().collect(),
            c if c.is_ascii_alphanumeric() => vec![c.to_ascii_lowercase()],
            _ => vec![],
        })
        .collect()
}

impl Plan {
    fn build() -> Plan {
        let mut rng = Rng(SEED);
        let numbers: Vec<Vec<String>> = SITES
            .iter()
            .map(|s| (0..s.size).map(|i| offset(s.first, i)).collect())
            .collect();
        // Next free number per site, handed out in E.164 order.
        let mut next = vec![0usize; SITES.len()];
        let mut take = |site: usize| {
            let n = numbers[site][next[site]].clone();
            next[site] += 1;
            n
        };
        let mut steps = Vec::new();

        // Services first: their numbers open each range, as main numbers do.
        let mut services = Vec::new();
        for (i, &(name, kind, site, count, description)) in SERVICES.iter().enumerate() {
            let local: String = name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            for k in 0..count {
                let n = take(site);
                steps.push(Step {
                    when: Some((HISTORY_DAYS - (k as u64 % 2), 9 * 60 + 5 * k as u32)),
                    number: n,
                    action: Action::AssignService(i),
                });
            }
            services.push(ServicePlan {
                name,
                kind,
                description,
                account_id: object_id(3, i + 1),
                upn: format!("ra-{}@{DOMAIN}", ascii_local_dash(&local)),
                site,
            });
        }
        // The summer campaign: more Sales Hotline lines, since released.
        for k in 0..CAMPAIGN_NUMBERS {
            let n = take(0);
            steps.push(Step {
                when: Some((85, 10 * 60 + k as u32)),
                number: n.clone(),
                action: Action::AssignService(1),
            });
            steps.push(Step {
                when: Some((20, 16 * 60 + k as u32)),
                number: n,
                action: Action::Unassign("Summer campaign ended"),
            });
        }

        // People.
        let mut people = Vec::new();
        let mut upns = HashSet::new();
        for (s, site) in SITES.iter().enumerate() {
            let mut leads: HashSet<&str> = HashSet::new();
            for k in 0..site.people {
                let given = rng.pick(site.given).to_string();
                let surname = rng.pick(site.surnames).to_string();
                let mut local = format!("{}.{}", ascii_local(&given), ascii_local(&surname));
                if !upns.insert(local.clone()) {
                    let mut i = 2;
                    while !upns.insert(format!("{local}{i}")) {
                        i += 1;
                    }
                    local = format!("{local}{i}");
                }
                let mut roll = rng.below(100) as u32;
                let department = site
                    .departments
                    .iter()
                    .find(|(_, w)| {
                        let hit = roll < *w;
                        roll = roll.saturating_sub(*w);
                        hit
                    })
                    .map(|(d, _)| *d)
                    .unwrap_or(site.departments[0].0);
                let titles = TITLES
                    .iter()
                    .find(|(d, _)| *d == department)
                    .map(|(_, t)| *t)
                    .unwrap_or(&["Specialist"][..]);
                let title = if leads.insert(department) {
                    titles[0]
                } else {
                    titles[1 + rng.below(titles.len() as u64 - 1) as usize]
                };
                // A few leavers (disabled in Entra); some people have no phone number;
                // the last two at each site started today.
                let leaver = k == 7 || (s == 0 && k == 77);
                let joined_days_ago = if k + 2 >= site.people {
                    0
                } else if rng.below(100) < 60 {
                    HISTORY_DAYS - rng.below(11)
                } else {
                    1 + rng.below(79)
                };
                let left_days_ago = leaver.then(|| 5 + 9 * (people.len() as u64 % 6));
                people.push(Person {
                    id: object_id(1, people.len() + 1),
                    upn: format!("{local}@{DOMAIN}"),
                    display_name: format!("{given} {surname}"),
                    given,
                    surname,
                    department,
                    title,
                    site: s,
                    enabled: !leaver,
                    number: None,
                    joined_days_ago: if leaver {
                        HISTORY_DAYS - 1
                    } else {
                        joined_days_ago
                    },
                    left_days_ago,
                });
            }
        }
        for (i, p) in people.iter_mut().enumerate() {
            let no_number = p.enabled && (i % 13 == 5);
            if no_number {
                continue;
            }
            let n = take(p.site);
            let minute = 8 * 60 + (rng.below(10 * 60) as u32);
            steps.push(Step {
                when: (p.joined_days_ago > 0).then_some((p.joined_days_ago, minute)),
                number: n.clone(),
                action: Action::AssignUser(i),
            });
            if let Some(d) = p.left_days_ago {
                steps.push(Step {
                    when: Some((d, 17 * 60 + 30)),
                    number: n.clone(),
                    action: Action::Unassign("Leaver: account disabled"),
                });
            }
            p.number = Some(n);
        }

        // Reservations and quarantines from the free numbers that follow.
        for &Hold {
            site,
            count,
            reason,
            reserved_for,
            days_ago,
            expires_in_days,
        } in RESERVATIONS
        {
            for k in 0..count {
                steps.push(Step {
                    when: Some((days_ago, 11 * 60 + k as u32)),
                    number: take(site),
                    action: Action::Reserve {
                        reason,
                        reserved_for,
                        expires_in_days,
                    },
                });
            }
        }
        steps.push(Step {
            when: None,
            number: take(0),
            action: Action::Reserve {
                reason: "Direct line for the new CFO",
                reserved_for: "Office of the CEO",
                expires_in_days: Some(14),
            },
        });
        for &(site, count) in MANUAL_QUARANTINE {
            for k in 0..count {
                steps.push(Step {
                    when: Some((10, 14 * 60 + k as u32)),
                    number: take(site),
                    action: Action::Quarantine {
                        reason: "Returned from the legacy PBX; resting before reuse",
                        days: 20,
                    },
                });
            }
        }
        // Oldest first (today's last), so the audit trail reads in order.
        steps.sort_by_key(|s| match s.when {
            Some((days, minute)) => (0, u64::MAX - days, minute),
            None => (1, 0, 0),
        });

        let drift = Self::drift(&people, &numbers);
        Plan {
            people,
            services,
            steps,
            drift,
        }
    }

    /// Two numbers of each kind Teams can disagree in, plus numbers only Teams has.
    fn drift(people: &[Person], numbers: &[Vec<String>]) -> Vec<DriftChange> {
        // Settled holders: people who have had their number for a while.
        let holder = |site: usize, nth: usize| {
            people
                .iter()
                .filter(|p| p.site == site && p.enabled && p.joined_days_ago > 0)
                .filter_map(|p| p.number.clone())
                .nth(nth)
                .expect("the demo site has enough people")
        };
        // People without a number, whom Teams can give one.
        let spare = |site: usize, nth: usize| {
            people
                .iter()
                .filter(|p| p.site == site && p.enabled && p.number.is_none())
                .nth(nth)
                .map(|p| p.id.clone())
                .expect("the demo site has people without a number")
        };
        let last = |site: usize| numbers[site].last().cloned().expect("ranges are not empty");
        let beyond = |site: usize, k: u64| offset(SITES[site].first, SITES[site].size + 50 + k);
        vec![
            DriftChange::TeamsOnly {
                number: beyond(0, 0),
                number_type: SITES[0].number_type,
                country: SITES[0].country,
                target: None,
            },
            DriftChange::TeamsOnly {
                number: beyond(0, 1),
                number_type: SITES[0].number_type,
                country: SITES[0].country,
                target: None,
            },
            DriftChange::TeamsOnly {
                number: beyond(2, 0),
                number_type: SITES[2].number_type,
                country: SITES[2].country,
                target: Some(spare(2, 0)),
            },
            DriftChange::AssignFree {
                number: last(0),
                target: spare(0, 0),
            },
            DriftChange::AssignFree {
                number: last(4),
                target: spare(4, 0),
            },
            DriftChange::Unassign {
                number: holder(0, 10),
            },
            DriftChange::Unassign {
                number: holder(2, 20),
            },
            DriftChange::Move {
                number: holder(0, 30),
                target: spare(0, 1),
            },
            DriftChange::Move {
                number: holder(3, 5),
                target: spare(3, 0),
            },
        ]
    }
}

fn ascii_local_dash(s: &str) -> String {
    let mut out = String::new();
    for part in s.split('-').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(part);
    }
    out
}

/// Teams' word for a number type.
fn teams_type(t: NumberType) -> &'static str {
    match t {
        NumberType::DirectRouting => "directRouting",
        NumberType::CallingPlan => "callingPlan",
        NumberType::OperatorConnect => "operatorConnect",
    }
}

// ---------------------------------------------------------------------------------------
// The simulated tenant.

/// Fills a fresh tenant's directory: people, resource accounts, groups. The same calls in
/// the same order every time, so the simulator's generated group ids (from its fixed
/// seed) are the same on every start too.
fn populate_directory(tenant: &Tenant, plan: &Plan) {
    for p in &plan.people {
        let site = &SITES[p.site];
        tenant.add_user(SimUser {
            id: Some(p.id.clone()),
            user_principal_name: p.upn.clone(),
            display_name: p.display_name.clone(),
            given_name: Some(p.given.clone()),
            surname: Some(p.surname.clone()),
            mail: Some(p.upn.clone()),
            department: Some(p.department.into()),
            job_title: Some(p.title.into()),
            office_location: Some(site.name.into()),
            preferred_language: Some(
                match site.country {
                    "DE" => "de-DE",
                    "US" => "en-US",
                    "AU" => "en-AU",
                    _ => "en-GB",
                }
                .into(),
            ),
            usage_location: Some(site.country.into()),
            city: Some(site.city.into()),
            country: Some(site.country_name.into()),
            account_enabled: p.enabled,
            ..SimUser::default()
        });
    }
    for s in &plan.services {
        tenant.add_user(SimUser {
            id: Some(s.account_id.clone()),
            user_principal_name: s.upn.clone(),
            display_name: s.name.into(),
            usage_location: Some(SITES[s.site].country.into()),
            is_resource_account: true,
            ..SimUser::default()
        });
    }
    let all = tenant.add_group("All Staff", Some("Everyone at Contoso"));
    let phones = tenant.add_group(
        "Teams Phone Users",
        Some("People licensed for Teams Phone with a number"),
    );
    let departments: HashMap<&str, String> = DEPARTMENT_GROUPS
        .iter()
        .map(|(name, dept)| {
            let description = format!("The {dept} department");
            let id = tenant.add_group(name, Some(description.as_str()));
            (*dept, id)
        })
        .collect();
    for p in plan.people.iter().filter(|p| p.enabled) {
        tenant.add_member(&all, &p.id);
        if p.number.is_some() {
            tenant.add_member(&phones, &p.id);
        }
        if let Some(g) = departments.get(p.department) {
            tenant.add_member(g, &p.id);
        }
    }
}

/// Puts every inventory number of the platform into Teams, assigned where the inventory
/// says its assignment is provisioned (a pending one is the worker's to carry out).
/// Returns how many numbers Teams now has.
async fn mirror_inventory(db: &Db, tenant: &Tenant, platform_id: i64) -> anyhow::Result<usize> {
    let d = db.clone();
    let numbers = blocking(move || {
        d.read(|c| {
            let emergency: HashMap<i64, String> = all_locations(c)?
                .into_iter()
                .filter_map(|l| l.emergency_location_id.map(|e| (l.id, e)))
                .collect();
            let external: HashMap<String, String> = all_services(c)?
                .into_iter()
                .filter_map(|s| s.external_id.map(|e| (s.id.to_string(), e)))
                .collect();
            let numbers = numbers_on(c, platform_id)?;
            Ok(numbers
                .into_iter()
                .map(|n| SimNumber {
                    telephone_number: n.number.clone(),
                    number_type: teams_type(n.number_type.unwrap_or(NumberType::DirectRouting))
                        .into(),
                    iso_country_code: Some(n.country.clone()),
                    location_id: n.location_id.and_then(|l| emergency.get(&l).cloned()),
                    assignment_target_id: n
                        .assignment
                        .as_ref()
                        .filter(|a| a.provisioning_state == ProvisioningState::Provisioned)
                        .and_then(|a| match a.kind {
                            TargetKind::User => Some(a.id.clone()),
                            TargetKind::Service => external.get(&a.id).cloned(),
                        }),
                    ..SimNumber::default()
                })
                .collect::<Vec<_>>())
        })
        .map_err(store_err)
    })
    .await?;
    let count = numbers.len();
    tenant.add_numbers(numbers);
    Ok(count)
}

fn all_locations(c: &mut store::Conn) -> StoreResult<Vec<store::locations::Location>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store::locations::list(
            c,
            &Scope::unrestricted(),
            None,
            None,
            cursor.as_deref(),
            Some(store::page::MAX_LIMIT),
        )?;
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

fn all_services(c: &mut store::Conn) -> StoreResult<Vec<store::services::Service>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store::services::list(
            c,
            &Scope::unrestricted(),
            &Default::default(),
            cursor.as_deref(),
            Some(store::page::MAX_LIMIT),
        )?;
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Every number on the platform.
fn numbers_on(c: &mut store::Conn, platform_id: i64) -> StoreResult<Vec<Number>> {
    let filter = store::numbers::NumberFilter {
        platform_id: Some(platform_id),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store::numbers::list(
            c,
            &Scope::unrestricted(),
            &filter,
            cursor.as_deref(),
            Some(store::page::MAX_LIMIT),
        )?;
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The first start.

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn phone(s: &str) -> StoreResult<PhoneNumber> {
    PhoneNumber::parse(s).map_err(|e| internal(format!("demo number {s}: {e}")))
}

/// When the sites, ranges, services and platform were set up: before the history.
fn setup_at(now: NaiveDateTime) -> NaiveDateTime {
    day_at(now, HISTORY_DAYS + 2, 9 * 60)
}

/// `minute` past midnight (UTC), `days` days before `now`.
fn day_at(now: NaiveDateTime, days: u64, minute: u32) -> NaiveDateTime {
    let day = now.date() - Days::new(days);
    day.and_time(NaiveTime::from_hms_opt(minute / 60 % 24, minute % 60, 0).unwrap_or_default())
}

/// Sites, ranges, services, the platform and one extension number, dated before the
/// history; returns the platform's id.
fn seed_estate(
    db: &Db,
    key: &SecretKey,
    plan: &Plan,
    (graph, login): &(String, String),
    max_range_size: u64,
) -> anyhow::Result<i64> {
    let permit = permit();
    let at = setup_at(store::now());
    db.write(|c| {
        store::backdate::as_of(at, || {
            let sealer = store::settings::sealer(c, key)?;
            let platform = store::platforms::create(
                c,
                &permit,
                &sealer,
                store::platforms::NewPlatform {
                    name: PLATFORM_NAME.into(),
                    kind: "teams".into(),
                    tenant_id: Some(TENANT_ID.into()),
                    client_id: Some(CLIENT_ID.into()),
                    client_secret: Some(CLIENT_SECRET.into()),
                    graph_base_url: Some(graph.clone()),
                    login_base_url: Some(login.clone()),
                    sync_interval_seconds: Some(SYNC_INTERVAL_SECONDS),
                    ..Default::default()
                },
            )?;
            for (i, site) in SITES.iter().enumerate() {
                let location = store::locations::create(
                    c,
                    &permit,
                    LocationInput {
                        name: site.name.into(),
                        country: site.country.into(),
                        region: Some(site.region.into()),
                        city: Some(site.city.into()),
                        address: Some(site.address.into()),
                        emergency_location_id: Some(object_id(4, i + 1)),
                    },
                )?;
                let block = NumberBlock::new(
                    phone(site.first)?,
                    phone(&offset(site.first, site.size - 1))?,
                    max_range_size,
                )
                .map_err(internal)?;
                store::ranges::create(
                    c,
                    &permit,
                    NewRange {
                        name: Some(site.range_name.into()),
                        block,
                        location_id: Some(location.id),
                        tags: Tag::parse_set(site.tags).map_err(internal)?,
                        description: format!("{} direct dial-in block", site.city),
                        platform_id: Some(platform.id),
                        number_type: Some(site.number_type),
                    },
                )?;
            }
            for s in &plan.services {
                store::services::create(
                    c,
                    &permit,
                    store::services::ServiceInput {
                        name: s.name.into(),
                        kind: s.kind.into(),
                        platform_id: Some(platform.id),
                        external_id: Some(s.account_id.clone()),
                        description: s.description.into(),
                    },
                )?;
            }
            // A number outside any range and platform: an extension on a legacy PBX.
            store::numbers::create(
                c,
                &permit,
                NewNumber {
                    number: phone("+14255550100;ext=100")?,
                    location_id: None,
                    tags: Tag::parse_set(&["VIP"]).map_err(internal)?,
                    description: "Executive assistant extension (legacy PBX)".into(),
                    platform_id: None,
                    number_type: Some(NumberType::DirectRouting),
                },
            )?;
            Ok(platform.id)
        })
    })
    .map_err(|e| anyhow::anyhow!("seeding the demo estate: {e}"))
}

/// The first directory sync, run here and now, so the history can assign to the people
/// it brings in.
async fn first_sync(db: &Db, secret_key: &SecretKey, platform_id: i64) -> anyhow::Result<()> {
    let worker = worker::Worker::new(
        db.clone(),
        secret_key.clone(),
        worker::Config::new(format!("demo-seed-{}", std::process::id())),
        Arc::new(worker::Metrics::default()),
    )?;
    let outcome = worker::sync::sync_platform(&worker, platform_id, PLATFORM_NAME).await?;
    if let Some(e) = outcome.error {
        bail!("the demo's first directory sync failed: {e}");
    }
    tracing::info!(
        users = outcome.users_changed,
        groups = outcome.groups_changed,
        "demo directory synced from the simulated tenant"
    );
    Ok(())
}

/// Replays the plan's history, a day per transaction, each step dated when it happened
/// (today's at the real time).
fn seed_history(db: &Db, plan: &Plan, platform_id: i64) -> anyhow::Result<()> {
    let permit = permit();
    let now = store::now();
    let services: HashMap<String, String> = db
        .read(all_services)
        .map_err(store_err)?
        .into_iter()
        .filter(|s| s.platform_id == Some(platform_id))
        .map(|s| (s.name, s.id.to_string()))
        .collect();
    let mut by_day: BTreeMap<(u8, u64), Vec<&Step>> = BTreeMap::new();
    for step in &plan.steps {
        let key = match step.when {
            Some((days, _)) => (0, u64::MAX - days),
            None => (1, 0),
        };
        by_day.entry(key).or_default().push(step);
    }
    for steps in by_day.values() {
        db.write(|c| {
            for step in steps {
                let request = request_for(step, plan, &services, now)?;
                let apply = |c: &mut store::Conn| {
                    store::lifecycle::apply(c, &permit, &step.number, request, None).map(|_| ())
                };
                match step.when {
                    Some((days, minute)) => {
                        store::backdate::as_of(day_at(now, days, minute), || apply(c))?
                    }
                    None => apply(c)?,
                }
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("seeding the demo's history: {e}"))?;
    }
    Ok(())
}

fn request_for(
    step: &Step,
    plan: &Plan,
    services: &HashMap<String, String>,
    now: NaiveDateTime,
) -> StoreResult<Request> {
    let assign = |target| Request::Assign {
        target,
        override_reservation: false,
        override_quarantine: false,
        reassign: false,
    };
    Ok(match &step.action {
        Action::AssignUser(i) => {
            let p = &plan.people[*i];
            assign(Target {
                kind: TargetKind::User,
                id: p.id.clone(),
                name: p.upn.clone(),
            })
        }
        Action::AssignService(i) => {
            let s = &plan.services[*i];
            let id = services
                .get(s.name)
                .ok_or_else(|| internal(format!("demo service {} is missing", s.name)))?;
            assign(Target {
                kind: TargetKind::Service,
                id: id.clone(),
                name: s.name.into(),
            })
        }
        Action::Unassign(reason) => Request::Unassign {
            quarantine_days: None,
            reason: Some((*reason).into()),
        },
        Action::Reserve {
            reason,
            reserved_for,
            expires_in_days,
        } => Request::Reserve {
            reason: (*reason).into(),
            reserved_for: Some((*reserved_for).into()),
            expires_at: expires_in_days.map(|d| now + chrono::Duration::days(d as i64)),
        },
        Action::Quarantine { reason, days } => Request::Quarantine {
            reason: (*reason).into(),
            until: Some(now + chrono::Duration::days(*days as i64)),
        },
    })
}

// ---------------------------------------------------------------------------------------
// Drift.

/// What became of the drift of one start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftOutcome {
    /// Teams was changed and a sync requested; `applied` changes were made.
    Introduced { applied: usize },
    /// The numbers it needs were still being provisioned when `wait` ran out.
    TimedOut,
}

/// Waits (up to `wait`) until no provisioning job is open — none would undo the change,
/// and the sync that follows sees Teams as the inventory expects — then changes the
/// drift's numbers on Teams' side only and asks for a sync, which finds the drift. A
/// number the inventory no longer holds as the demo left it (someone settled the drift,
/// or unassigned the number) is left alone.
pub async fn introduce_drift(
    db: Db,
    tenant: Tenant,
    platform_id: i64,
    wait: Duration,
) -> anyhow::Result<DriftOutcome> {
    let plan = Plan::build();
    let changes = plan.drift;
    let deadline = std::time::Instant::now() + wait;
    let wanted: Vec<String> = changes
        .iter()
        .map(|c| match c {
            DriftChange::TeamsOnly { number, .. }
            | DriftChange::AssignFree { number, .. }
            | DriftChange::Unassign { number }
            | DriftChange::Move { number, .. } => number.clone(),
        })
        .collect();
    let states = loop {
        let (d, w) = (db.clone(), wanted.clone());
        let states: HashMap<String, Number> = blocking(move || {
            d.read(|c| {
                let mut out = HashMap::new();
                for n in &w {
                    match store::numbers::get(c, &Scope::unrestricted(), n) {
                        Ok(found) => {
                            out.insert(n.clone(), found);
                        }
                        Err(StoreError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
            .map_err(store_err)
        })
        .await?;
        // Every job, not only those of these numbers: a sync listing Teams while the
        // first wave is still being provisioned would report the rest as drift too.
        let d = db.clone();
        let open = blocking(move || {
            let counts = d.read(store::jobs::counts).map_err(store_err)?;
            Ok(counts
                .iter()
                .filter(|(state, _)| state == "queued" || state == "running")
                .map(|(_, n)| n)
                .sum::<i64>())
        })
        .await?;
        let pending = open > 0
            || states.values().any(|n| {
                n.assignment
                    .as_ref()
                    .is_some_and(|a| a.provisioning_state == ProvisioningState::Pending)
            });
        if !pending {
            break states;
        }
        if std::time::Instant::now() >= deadline {
            request_sync(&db, platform_id).await?;
            return Ok(DriftOutcome::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let provisioned = |n: &str| {
        states.get(n).is_some_and(|n| {
            n.status == NumberStatus::Assigned
                && n.platform_id == Some(platform_id)
                && n.assignment
                    .as_ref()
                    .is_some_and(|a| a.provisioning_state == ProvisioningState::Provisioned)
        })
    };
    let mut applied = 0;
    for change in &changes {
        let done = match change {
            DriftChange::TeamsOnly {
                number,
                number_type,
                country,
                target,
            } => {
                if states.contains_key(number) {
                    false
                } else {
                    tenant.add_number(SimNumber {
                        telephone_number: number.clone(),
                        number_type: teams_type(*number_type).into(),
                        iso_country_code: Some((*country).into()),
                        assignment_target_id: target.clone(),
                        ..SimNumber::default()
                    });
                    true
                }
            }
            DriftChange::AssignFree { number, target } => {
                states
                    .get(number)
                    .is_some_and(|n| n.status == NumberStatus::Available)
                    && tenant.set_assignment(number, Some(target))
            }
            DriftChange::Unassign { number } => {
                provisioned(number) && tenant.set_assignment(number, None)
            }
            DriftChange::Move { number, target } => {
                provisioned(number) && tenant.set_assignment(number, Some(target))
            }
        };
        applied += usize::from(done);
    }
    request_sync(&db, platform_id).await?;
    tracing::info!(
        drift.changes = applied,
        "changed numbers on the simulated Teams side only; the requested sync reports them as drift"
    );
    Ok(DriftOutcome::Introduced { applied })
}

/// Asks the worker for a sync of the platform soon.
async fn request_sync(db: &Db, platform_id: i64) -> anyhow::Result<()> {
    let d = db.clone();
    blocking(move || {
        d.write(|c| store::platforms::request_sync(c, &permit(), platform_id))
            .map(|_| ())
            .map_err(store_err)
    })
    .await
}

#[cfg(test)]
mod tests;
