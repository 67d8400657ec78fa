//! Which plugins of a pack a new grant binds to: those that declare the
//! capability, each at the component digest it was installed with, so a
//! rebuilt component does not inherit the grant. Shared by `drover grant
//! add` and the web UI.

use std::collections::BTreeMap;

use drover_policy::Capability;

use crate::Pack;

/// Why a grant cannot be bound.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantBindError {
    #[error("{0} needs no grant: declaring it in pack.yaml is enough")]
    NeedsNoGrant(Capability),
    #[error("{pack} has no plugin {plugin:?}")]
    NoSuchPlugin { pack: String, plugin: String },
    #[error("no plugin of {pack}{only} declares {capability}; a grant would have no effect")]
    NotDeclared {
        pack: String,
        only: String,
        capability: Capability,
    },
}

impl Pack {
    /// Plugin name -> digest (from `installed`, the pack's stored digests)
    /// of the plugins declaring `cap`, or only of `only_plugin`.
    pub fn grant_digests(
        &self,
        cap: Capability,
        only_plugin: Option<&str>,
        installed: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, GrantBindError> {
        if !cap.needs_grant() {
            return Err(GrantBindError::NeedsNoGrant(cap));
        }
        if let Some(p) = only_plugin
            && self.plugin(p).is_none()
        {
            return Err(GrantBindError::NoSuchPlugin {
                pack: self.reference(),
                plugin: p.to_owned(),
            });
        }
        let digests: BTreeMap<String, String> = self
            .plugins
            .iter()
            .filter(|p| p.capabilities.contains(&cap))
            .filter(|p| only_plugin.is_none_or(|only| only == p.name))
            .filter_map(|p| Some((p.name.clone(), installed.get(&p.name)?.clone())))
            .collect();
        if digests.is_empty() {
            return Err(GrantBindError::NotDeclared {
                pack: self.reference(),
                only: only_plugin
                    .map(|p| format!(" named {p:?}"))
                    .unwrap_or_default(),
                capability: cap,
            });
        }
        Ok(digests)
    }
}
