//! What every page shares: the layout `base.html` fills (title, navigation with the
//! firing-alert count, live-update address), links, badges and select options.

use std::collections::BTreeMap;

use super::alerts::{cluster_alerts_href, is_firing_unmuted, severity_class, severity_rank};
use crate::alert::manager::{AlertView, AlertsView};
use crate::web::AppState;

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Timeline,
    Alerts,
    Benchmarks,
    Explore,
    About,
    /// Users, tokens, the audit trail (admins only).
    Admin,
    /// Error pages.
    None,
}

/// The navigation, in order. Keys and Settings join here as their issues land;
/// each entry will carry the role it needs.
const NAV: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "Overview", "/"),
    (Nav::Timeline, "Timeline", "/timeline"),
    (Nav::Alerts, "Alerts", "/alerts"),
    (Nav::Benchmarks, "Benchmarks", "/benchmarks"),
    (Nav::Explore, "Metrics", "/explore"),
    (Nav::About, "About", "/about"),
];

pub struct SelectOption {
    pub value: String,
    pub selected: bool,
}

impl SelectOption {
    pub fn list<'a>(values: impl IntoIterator<Item = &'a str>, selected: &str) -> Vec<Self> {
        values
            .into_iter()
            .map(|v| SelectOption {
                value: v.to_string(),
                selected: v == selected,
            })
            .collect()
    }
}

pub struct Link {
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// A word or a number in a coloured pill (`macros.html`'s `badge`).
pub struct Badge {
    pub label: String,
    pub class: &'static str,
}

/// An entry of the navigation.
pub struct NavLink {
    pub link: Link,
    /// A count beside it (firing alerts beside "Alerts").
    pub badge: Option<Badge>,
}

/// What `base.html` needs.
pub struct Layout {
    pub title: String,
    pub nav: Vec<NavLink>,
    /// Where the page listens for live updates ("" for none).
    pub events_url: String,
    pub version: &'static str,
    /// Who is signed in, for the bar at the top; `None` when auth is off.
    pub user: Option<UserBar>,
    /// The CSRF token every form of the page carries ("" when none is needed).
    pub csrf: String,
    /// The page may offer an operator's actions (silence, acknowledge, delete a run).
    pub can_operate: bool,
}

/// The signed-in user at the top of every page, with a logout button when the
/// login is a session of ours.
pub struct UserBar {
    pub name: String,
    pub role: &'static str,
    /// The session's CSRF token for the logout form; `None`: no logout here (a
    /// proxy's user).
    pub logout_csrf: Option<String>,
}

impl UserBar {
    fn current() -> Option<UserBar> {
        let i = crate::web::access::current()?;
        let logout_csrf = match i.via {
            crate::auth::Via::NoAuth => return None,
            crate::auth::Via::Session { csrf } => Some(csrf),
            crate::auth::Via::Token | crate::auth::Via::Proxy { .. } => None,
        };
        Some(UserBar {
            name: i.name,
            role: i.role.as_str(),
            logout_csrf,
        })
    }
}

impl Layout {
    pub fn new(title: &str, current: Nav, events_url: Option<String>) -> Self {
        let identity = crate::web::access::current();
        let may = |role| identity.as_ref().is_some_and(|i| i.may(role));
        let mut nav: Vec<NavLink> = NAV
            .iter()
            .map(|(nav, label, href)| NavLink {
                link: Link {
                    label: label.to_string(),
                    href: href.to_string(),
                    current: *nav == current,
                },
                badge: None,
            })
            .collect();
        if may(crate::auth::Role::Admin) {
            nav.push(NavLink {
                link: Link {
                    label: "Admin".into(),
                    href: "/admin".into(),
                    current: current == Nav::Admin,
                },
                badge: None,
            });
        }
        Layout {
            csrf: identity
                .as_ref()
                .and_then(|i| i.csrf())
                .unwrap_or("")
                .to_string(),
            can_operate: may(crate::auth::Role::Operator),
            nav,
            title: title.to_string(),
            events_url: events_url.unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION"),
            user: UserBar::current(),
        }
    }

    /// Puts `badge` beside the "Alerts" entry.
    pub fn with_alerts_badge(mut self, badge: Option<Badge>) -> Self {
        if let Some((entry, _)) = self
            .nav
            .iter_mut()
            .zip(NAV.iter())
            .find(|(_, (nav, _, _))| *nav == Nav::Alerts)
        {
            entry.badge = badge;
        }
        self
    }
}

/// The firing alerts nobody muted, counted by severity: the badges of the overview,
/// the cluster page and the navigation.
pub struct AlertBadges {
    pub href: String,
    pub total: usize,
    /// One per severity, most urgent first ("1 critical", "2 warning").
    pub badges: Vec<Badge>,
}

impl AlertBadges {
    pub fn firing<'a>(alerts: impl IntoIterator<Item = &'a AlertView>, href: String) -> Self {
        let mut counts: BTreeMap<(u8, &str), usize> = BTreeMap::new();
        for a in alerts.into_iter().filter(|a| is_firing_unmuted(a)) {
            let severity = a.alert.severity();
            *counts
                .entry((severity_rank(severity), severity))
                .or_default() += 1;
        }
        AlertBadges {
            href,
            total: counts.values().sum(),
            badges: counts
                .iter()
                .map(|((_, severity), n)| Badge {
                    label: format!("{n} {severity}"),
                    class: severity_class(severity),
                })
                .collect(),
        }
    }

    /// Those of one cluster, linking to that cluster's alerts.
    pub fn of_cluster(view: &AlertsView, cluster: &str) -> Self {
        AlertBadges::firing(
            view.alerts.iter().filter(|a| a.alert.cluster() == cluster),
            cluster_alerts_href(cluster),
        )
    }

    /// The whole count in the colour of the most urgent: for the navigation.
    pub fn total_badge(&self) -> Option<Badge> {
        self.badges.first().map(|most_urgent| Badge {
            label: self.total.to_string(),
            class: most_urgent.class,
        })
    }
}

/// The layout of a page, with the count of firing alerts beside "Alerts".
pub fn layout(state: &AppState, title: &str, current: Nav, events_url: Option<String>) -> Layout {
    let view = state.alerts.view();
    let badges = AlertBadges::firing(&view.alerts, "/alerts".into());
    Layout::new(title, current, events_url).with_alerts_badge(badges.total_badge())
}
