// Package deploy holds no code: its tests check the lab deployment files in
// scripts/deploy (the systemd unit) against what the daemon needs and
// against the real command line of evoswarm. The unit itself is documented
// in docs/deploy.md and in the README's lab section.
package deploy
