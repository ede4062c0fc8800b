//! Patients' records, as a provider's office keeps them.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;

use crate::error::{StoreError, StoreResult};
use crate::rows::PatientRow;
use crate::schema::patients;
use crate::{normalize, time, Store};

/// A postal address (OpenID Connect's `address` claim).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        self.street.is_none()
            && self.locality.is_none()
            && self.region.is_none()
            && self.postal_code.is_none()
            && self.country.is_none()
    }
}

/// One patient's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub id: String,
    /// The record's id in the provider's EHR.
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Address,
    pub created_at: DateTime<Utc>,
}

impl Patient {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A record to create. `validate` runs before anything is written.
#[derive(Debug, Clone)]
pub struct NewPatient {
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Address,
}

impl NewPatient {
    pub fn validate(&self, today: NaiveDate) -> StoreResult<()> {
        if self.first_name.trim().is_empty() || self.last_name.trim().is_empty() {
            return Err(StoreError::Invalid(
                "first and last name are required".into(),
            ));
        }
        if self.birth_date > today {
            return Err(StoreError::Invalid("birth date is in the future".into()));
        }
        if let Some(email) = &self.email {
            normalize::validate_email(email)?;
        }
        if let Some(phone) = &self.phone {
            normalize::validate_phone(phone)?;
        }
        if self
            .external_id
            .as_deref()
            .is_some_and(|e| e.trim().is_empty())
        {
            return Err(StoreError::Invalid("external id must not be empty".into()));
        }
        Ok(())
    }

    pub(crate) fn into_row(self, id: String, now: DateTime<Utc>) -> PatientRow {
        let now = time::to_db(now);
        PatientRow {
            id,
            external_id: self.external_id.map(|e| e.trim().to_owned()),
            first_name: self.first_name.trim().to_owned(),
            last_name: self.last_name.trim().to_owned(),
            birth_date: self.birth_date,
            email_normalized: self.email.as_deref().map(normalize::email),
            email: self.email.map(|e| e.trim().to_owned()),
            phone: self.phone.map(|p| p.trim().to_owned()),
            address_street: self.address.street,
            address_locality: self.address.locality,
            address_region: self.address.region,
            address_postal_code: self.address.postal_code,
            address_country: self.address.country,
            created_at: now,
            updated_at: now,
        }
    }
}

impl From<PatientRow> for Patient {
    fn from(r: PatientRow) -> Self {
        Patient {
            id: r.id,
            external_id: r.external_id,
            first_name: r.first_name,
            last_name: r.last_name,
            birth_date: r.birth_date,
            email: r.email,
            phone: r.phone,
            address: Address {
                street: r.address_street,
                locality: r.address_locality,
                region: r.address_region,
                postal_code: r.address_postal_code,
                country: r.address_country,
            },
            created_at: time::from_db(r.created_at),
        }
    }
}

impl Store {
    /// Creates a record. A second record with the same external id is a `Conflict`.
    pub async fn create_patient(
        &self,
        new: NewPatient,
        now: DateTime<Utc>,
    ) -> StoreResult<Patient> {
        new.validate(now.date_naive())?;
        let row = new.into_row(uuid::Uuid::new_v4().to_string(), now);
        self.write(move |conn| {
            diesel::insert_into(patients::table)
                .values(&row)
                .execute(conn)?;
            Ok(Patient::from(row))
        })
        .await
    }

    pub async fn patient(&self, id: &str) -> StoreResult<Option<Patient>> {
        let id = id.to_owned();
        self.read(move |conn| {
            Ok(patients::table
                .find(id)
                .select(PatientRow::as_select())
                .first(conn)
                .optional()?
                .map(Patient::from))
        })
        .await
    }

    pub async fn patient_by_external_id(&self, external_id: &str) -> StoreResult<Option<Patient>> {
        let external_id = external_id.trim().to_owned();
        self.read(move |conn| {
            Ok(patients::table
                .filter(patients::external_id.eq(external_id))
                .select(PatientRow::as_select())
                .first(conn)
                .optional()?
                .map(Patient::from))
        })
        .await
    }
}
