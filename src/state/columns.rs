//! The column names given to custom attributes (table `custom_columns`).
//!
//! A custom attribute's column is named once, the first time a report
//! writes it (`custom_<snake_case name>`, with `_2`, `_3`, ... when that is
//! taken), and the name is kept here: it never changes and is never given
//! to another attribute, whatever is declared later. `state reset` keeps
//! them (they describe files already written). `state show` lists them.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{StateStore, unix_now};
use crate::error::Result;

/// One custom attribute's column, as `state show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomColumnRow {
    /// `contact`, `company` or `conversation`.
    pub model: String,
    /// The attribute's name as Intercom declares it (`/data_attributes`
    /// `name`, or `/conversations/attributes` `name`).
    pub attribute: String,
    /// The output column holding it.
    pub column: String,
}

impl StateStore {
    /// The column name given to each custom attribute of `model` so far:
    /// attribute name → column name.
    pub async fn custom_columns(&self, model: &str) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query(
            "SELECT attribute, column_name FROM custom_columns \
             WHERE workspace = $1 AND model = $2",
        )
        .bind(self.workspace())
        .bind(model)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// Record `(attribute, column)` names for `model`, in one transaction.
    /// An attribute that already has a name (another worker was first), or
    /// a column name already given, is left as it is: read the result back
    /// with [`StateStore::custom_columns`].
    pub async fn assign_custom_columns(
        &self,
        model: &str,
        names: &[(String, String)],
    ) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let now = unix_now();
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        for (attribute, column) in names {
            sqlx::query(
                "INSERT INTO custom_columns (workspace, model, attribute, column_name, \
                 assigned_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(self.workspace())
            .bind(model)
            .bind(attribute)
            .bind(column)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every custom column of this workspace, by model and column.
    pub async fn custom_column_rows(&self) -> Result<Vec<CustomColumnRow>> {
        let rows = sqlx::query(
            "SELECT model, attribute, column_name FROM custom_columns WHERE workspace = $1 \
             ORDER BY model, column_name",
        )
        .bind(self.workspace())
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(CustomColumnRow {
                    model: r.try_get(0)?,
                    attribute: r.try_get(1)?,
                    column: r.try_get(2)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_once_given_stay_and_are_kept_per_workspace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateStore::open(&dir.path().join("s.db"))
            .await
            .expect("open");
        let pair = |a: &str, c: &str| (a.to_string(), c.to_string());
        state
            .assign_custom_columns(
                "company",
                &[
                    pair("Company Name", "custom_company_name"),
                    pair("company_name", "custom_company_name_2"),
                ],
            )
            .await
            .expect("assign");
        // A second attempt with other names changes nothing that is given.
        state
            .assign_custom_columns(
                "company",
                &[
                    pair("company_name", "custom_company_name_3"),
                    pair("Company-Name", "custom_company_name_2"),
                ],
            )
            .await
            .expect("assign again");
        let names = state.custom_columns("company").await.expect("read");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec![
                pair("Company Name", "custom_company_name"),
                pair("company_name", "custom_company_name_2"),
            ]
        );
        assert!(
            state
                .custom_columns("contact")
                .await
                .expect("read")
                .is_empty()
        );
        assert!(
            state
                .scoped("other")
                .custom_columns("company")
                .await
                .expect("read")
                .is_empty()
        );
        let rows = state.custom_column_rows().await.expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].column, "custom_company_name_2");
    }
}
