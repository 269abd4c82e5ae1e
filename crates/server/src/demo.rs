//! `telestate demo`: a ready estate to click through, seeded through the store (and so
//! audited like any other change) into a database that has no locations yet.

use anyhow::Context;
use domain::{NumberBlock, NumberType, Permit, PhoneNumber, Source, Tag};
use store::{Db, locations::LocationInput, numbers::NewNumber, ranges::NewRange};

struct Site {
    name: &'static str,
    country: &'static str,
    city: &'static str,
    region: &'static str,
    ranges: &'static [(
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    )],
}

const SITES: &[Site] = &[
    Site {
        name: "London HQ",
        country: "GB",
        city: "London",
        region: "England",
        ranges: &[(
            "London DDI",
            "+442070000000",
            "+442070009999",
            &["Sales", "UK"],
        )],
    },
    Site {
        name: "Manchester",
        country: "GB",
        city: "Manchester",
        region: "England",
        ranges: &[(
            "Manchester support",
            "+441610000000",
            "+441610000999",
            &["Support", "UK"],
        )],
    },
    Site {
        name: "New York",
        country: "US",
        city: "New York",
        region: "NY",
        ranges: &[(
            "NYC trading floor",
            "+12125550000",
            "+12125550999",
            &["Sales", "US"],
        )],
    },
    Site {
        name: "Berlin",
        country: "DE",
        city: "Berlin",
        region: "Berlin",
        ranges: &[(
            "Berlin office",
            "+493012340000",
            "+493012340999",
            &["Engineering", "DE"],
        )],
    },
    Site {
        name: "Sydney",
        country: "AU",
        city: "Sydney",
        region: "NSW",
        ranges: &[(
            "Sydney office",
            "+61290000000",
            "+61290000499",
            &["Support", "APAC"],
        )],
    },
];

fn phone(s: &str) -> anyhow::Result<PhoneNumber> {
    PhoneNumber::parse(s).with_context(|| format!("demo number {s}"))
}

/// Seeds the demo estate unless the database already has locations; returns whether it did.
pub fn seed(db: &Db, max_range_size: u64) -> anyhow::Result<bool> {
    let existing = db
        .read(|c| {
            store::locations::list(c, &domain::Scope::unrestricted(), None, None, None, Some(1))
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !existing.items.is_empty() {
        return Ok(false);
    }
    let permit = Permit::system("demo", Source::Cli);
    db.write(|c| {
        for site in SITES {
            let input = LocationInput {
                name: site.name.into(),
                country: site.country.into(),
                region: Some(site.region.into()),
                city: Some(site.city.into()),
                address: None,
                emergency_location_id: None,
            };
            let location = store::locations::create(c, &permit, input)?;
            for (name, start, end, tags) in site.ranges {
                let block = NumberBlock::new(
                    phone(start).map_err(|e| store::StoreError::Internal(e.to_string()))?,
                    phone(end).map_err(|e| store::StoreError::Internal(e.to_string()))?,
                    max_range_size,
                )
                .map_err(|e| store::StoreError::Internal(e.to_string()))?;
                let new = NewRange {
                    name: Some((*name).into()),
                    block,
                    location_id: Some(location.id),
                    tags: Tag::parse_set(tags)
                        .map_err(|e| store::StoreError::Internal(e.to_string()))?,
                    description: format!("{} direct dial-in block", site.city),
                    platform_id: None,
                    number_type: Some(NumberType::DirectRouting),
                };
                store::ranges::create(c, &permit, new)?;
            }
        }
        let ceo = NewNumber {
            number: phone("+14255550100;ext=100")
                .map_err(|e| store::StoreError::Internal(e.to_string()))?,
            location_id: None,
            tags: Tag::parse_set(&["VIP"])
                .map_err(|e| store::StoreError::Internal(e.to_string()))?,
            description: "Executive assistant extension".into(),
            platform_id: None,
            number_type: Some(NumberType::DirectRouting),
        };
        store::numbers::create(c, &permit, ceo)?;
        seed_directory(c, &permit)?;
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("seeding the demo estate: {e}"))?;
    Ok(true)
}

/// Demo people: (given name, surname, department, job title, site index into `SITES`).
const PEOPLE: &[(&str, &str, &str, &str, usize)] = &[
    ("Olivia", "Bennett", "Sales", "Head of Sales", 0),
    ("Harry", "Clarke", "Sales", "Account Executive", 0),
    ("Amelia", "Wright", "Sales", "Account Executive", 0),
    ("Jack", "Turner", "Sales", "Sales Development Rep", 1),
    ("Isla", "Patel", "Sales", "Account Manager", 2),
    ("Ethan", "Rivera", "Sales", "Account Executive", 2),
    ("Sophia", "Nguyen", "Sales", "Sales Engineer", 2),
    ("Lukas", "Schmidt", "Sales", "Account Manager", 3),
    ("Chloe", "Walker", "Support", "Support Lead", 1),
    ("Noah", "Hughes", "Support", "Support Engineer", 1),
    ("Grace", "Edwards", "Support", "Support Engineer", 1),
    ("Liam", "O'Connor", "Support", "Support Engineer", 1),
    ("Mia", "Thompson", "Support", "Customer Success Manager", 4),
    ("Oliver", "Nguyen", "Support", "Support Engineer", 4),
    ("Charlotte", "Kelly", "Support", "Support Engineer", 4),
    ("Ava", "Martinez", "Support", "Support Engineer", 2),
    ("Leon", "Fischer", "Engineering", "Engineering Manager", 3),
    ("Emma", "Weber", "Engineering", "Software Engineer", 3),
    ("Felix", "Wagner", "Engineering", "Software Engineer", 3),
    (
        "Hannah",
        "Becker",
        "Engineering",
        "Site Reliability Engineer",
        3,
    ),
    ("Daniel", "Cohen", "Engineering", "Software Engineer", 2),
    ("Priya", "Sharma", "Engineering", "Staff Engineer", 0),
    ("George", "Evans", "Engineering", "Network Engineer", 0),
    ("Ruby", "Lewis", "Engineering", "UC Engineer", 0),
    ("Thomas", "Hall", "Finance", "Finance Director", 0),
    ("Emily", "Green", "Finance", "Accountant", 0),
    ("William", "Baker", "Finance", "Payroll Specialist", 1),
    ("Zoe", "Adams", "Finance", "Financial Analyst", 2),
    ("Max", "Hoffmann", "Finance", "Accountant", 3),
    ("Lucy", "Morgan", "Finance", "Accounts Payable Clerk", 4),
];

/// Demo groups: (display name, who belongs: a department, or every person).
const GROUPS: &[(&str, Option<&str>)] = &[
    ("All Staff", None),
    ("Sales Team", Some("Sales")),
    ("Support Desk", Some("Support")),
    ("Teams Phone Users", Some("Engineering")),
];

/// Demo services: (name, kind, description).
const SERVICES: &[(&str, &str, &str)] = &[
    (
        "Main Reception",
        "auto_attendant",
        "Front door: routes callers to sales, support or the operator",
    ),
    (
        "Support Queue",
        "call_queue",
        "First-line support, round robin over the Support Desk group",
    ),
    ("Sales Hotline", "call_queue", "Inbound sales enquiries"),
    (
        "Boardroom London",
        "conference_bridge",
        "Dial-in for the London HQ boardroom",
    ),
    (
        "Accounts Fax",
        "fax",
        "Legacy fax line for the finance team",
    ),
];

fn demo_object_id(kind: u32, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

/// Seeds a directory as the Entra sync would (users, groups, memberships) and services.
fn seed_directory(c: &mut store::Conn, permit: &Permit) -> store::StoreResult<()> {
    use store::directory::{DirectoryUserInput, GroupInput};
    let mut ids = Vec::new();
    for (i, (given, surname, department, title, site)) in PEOPLE.iter().enumerate() {
        let site = &SITES[*site];
        let local: String = format!("{given}.{surname}")
            .to_lowercase()
            .chars()
            .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '.')
            .collect();
        let upn = format!("{local}@contoso.example");
        let user = DirectoryUserInput {
            id: demo_object_id(1, i + 1),
            upn: upn.clone(),
            display_name: format!("{given} {surname}"),
            mail: Some(upn),
            department: Some((*department).into()),
            job_title: Some((*title).into()),
            office_location: Some(site.name.into()),
            usage_location: Some(site.country.into()),
            city: Some(site.city.into()),
            country: Some(site.country.into()),
            // One leaver whose account is already disabled, to show how targets are refused.
            account_enabled: i != PEOPLE.len() - 1,
        };
        ids.push((
            store::directory::upsert_user(c, permit, user)?.id,
            *department,
        ));
    }
    for (g, (name, department)) in GROUPS.iter().enumerate() {
        let group = store::directory::upsert_group(
            c,
            permit,
            GroupInput {
                id: demo_object_id(2, g + 1),
                display_name: (*name).into(),
                mail: None,
                description: Some(format!("Demo group: {name}")),
            },
        )?;
        let members: Vec<&str> = ids
            .iter()
            .filter(|(_, d)| department.is_none_or(|want| want == *d))
            .map(|(id, _)| id.as_str())
            .collect();
        store::directory::set_group_members(c, permit, &group.id, &members)?;
    }
    for (name, kind, description) in SERVICES {
        let input = store::services::ServiceInput {
            name: (*name).into(),
            kind: (*kind).into(),
            platform_id: None,
            external_id: None,
            description: (*description).into(),
        };
        store::services::create(c, permit, input)?;
    }
    Ok(())
}
