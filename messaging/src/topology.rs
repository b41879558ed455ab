//! The member state machine of Stratos 4.1.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Lifecycle state of a cluster member, with Stratos 4.1's names on the wire.
///
/// Created → Initialized → Starting → Active → In_Maintenance → ReadyToShutDown → Terminated.
/// Every live state may also go straight to `ReadyToShutDown`: that is the one door through
/// which faulty, expired and force-terminated members leave, so termination intent is always
/// recorded before the cloud is asked to terminate. `Created → Terminated` covers a start the
/// cloud refused (there is no instance to shut down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MemberState {
    Created,
    Initialized,
    Starting,
    Active,
    #[serde(rename = "In_Maintenance")]
    InMaintenance,
    ReadyToShutDown,
    Terminated,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal member state transition {from} -> {to}")]
pub struct IllegalTransition {
    pub from: MemberState,
    pub to: MemberState,
}

/// A state name that is not one of Stratos 4.1's member states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown member state {0:?}")]
pub struct UnknownMemberState(pub String);

impl MemberState {
    pub const ALL: [MemberState; 7] = [
        MemberState::Created,
        MemberState::Initialized,
        MemberState::Starting,
        MemberState::Active,
        MemberState::InMaintenance,
        MemberState::ReadyToShutDown,
        MemberState::Terminated,
    ];

    /// The Stratos wire name (`In_Maintenance`, `ReadyToShutDown`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Created => "Created",
            MemberState::Initialized => "Initialized",
            MemberState::Starting => "Starting",
            MemberState::Active => "Active",
            MemberState::InMaintenance => "In_Maintenance",
            MemberState::ReadyToShutDown => "ReadyToShutDown",
            MemberState::Terminated => "Terminated",
        }
    }

    pub fn is_terminated(self) -> bool {
        self == MemberState::Terminated
    }

    /// Whether the member is on its way out (termination intent recorded or done).
    pub fn is_leaving(self) -> bool {
        matches!(
            self,
            MemberState::InMaintenance | MemberState::ReadyToShutDown | MemberState::Terminated
        )
    }

    /// Whether the state machine allows `self -> next`. Staying in the same state is not a
    /// transition; callers that want idempotence use [`MemberState::advance`].
    pub fn can_transition_to(self, next: MemberState) -> bool {
        use MemberState::*;
        matches!(
            (self, next),
            (Created, Initialized)
                | (Created, ReadyToShutDown)
                | (Created, Terminated)
                | (Initialized, Starting)
                | (Initialized, ReadyToShutDown)
                | (Starting, Active)
                | (Starting, InMaintenance)
                | (Starting, ReadyToShutDown)
                | (Active, InMaintenance)
                | (Active, ReadyToShutDown)
                | (InMaintenance, ReadyToShutDown)
                | (ReadyToShutDown, Terminated)
        )
    }

    /// Checked transition: `Ok(next)` when allowed, an error otherwise.
    pub fn transition(self, next: MemberState) -> Result<MemberState, IllegalTransition> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(IllegalTransition {
                from: self,
                to: next,
            })
        }
    }

    /// Idempotent transition for event handling: `Ok(None)` when the member is already in
    /// `next` (a duplicate event), `Ok(Some(next))` when the move is allowed, an error for
    /// anything else (a late event must never move a member backwards).
    pub fn advance(self, next: MemberState) -> Result<Option<MemberState>, IllegalTransition> {
        if self == next {
            Ok(None)
        } else {
            self.transition(next).map(Some)
        }
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemberState {
    type Err = UnknownMemberState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MemberState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownMemberState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::MemberState::*;
    use super::*;

    #[test]
    fn happy_path_is_allowed() {
        let path = [
            Created,
            Initialized,
            Starting,
            Active,
            InMaintenance,
            ReadyToShutDown,
            Terminated,
        ];
        for pair in path.windows(2) {
            assert_eq!(pair[0].transition(pair[1]), Ok(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn backwards_and_skipping_moves_are_rejected() {
        for (from, to) in [
            (Active, Starting),
            (Starting, Initialized),
            (Created, Active),
            (Created, Starting),
            (Initialized, Active),
            (Terminated, Created),
            (Terminated, Active),
            (ReadyToShutDown, Active),
            (InMaintenance, Active),
            (Active, Terminated),
        ] {
            assert_eq!(
                from.transition(to),
                Err(IllegalTransition { from, to }),
                "{from} -> {to} must be illegal"
            );
        }
    }

    #[test]
    fn terminated_is_final() {
        for to in MemberState::ALL {
            assert!(!Terminated.can_transition_to(to));
        }
    }

    #[test]
    fn every_live_state_can_leave_through_ready_to_shutdown() {
        for from in [Created, Initialized, Starting, Active, InMaintenance] {
            assert!(from.can_transition_to(ReadyToShutDown), "{from}");
        }
    }

    #[test]
    fn advance_is_idempotent_for_duplicates() {
        assert_eq!(Active.advance(Active), Ok(None));
        assert_eq!(Starting.advance(Active), Ok(Some(Active)));
        assert!(Terminated.advance(Active).is_err());
    }

    #[test]
    fn wire_names_round_trip() {
        for state in MemberState::ALL {
            assert_eq!(state.as_str().parse::<MemberState>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert!("Activated".parse::<MemberState>().is_err());
    }
}
