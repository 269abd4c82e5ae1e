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
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("seeding the demo estate: {e}"))?;
    Ok(true)
}
