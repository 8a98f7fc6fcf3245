package views

// Security is Settings > Security: the authenticator app and the recovery
// codes.
type Security struct {
	Enabled bool
	// Enroll is set between "Set up" and the first code.
	Enroll *TOTPEnroll
	// RecoveryCodes are shown once, right after they were made.
	RecoveryCodes     []string
	RecoveryCodesLeft int
	// Confirm is the enrollment's code field; Disable and Regenerate take
	// a current code or the password.
	Confirm, Disable, Regenerate Form
	HasPassword                  bool
	// Continue leads back to the organization that asked for a factor.
	Continue *ContinueLink
	// PasskeysOn shows the passkeys card; PasskeysUnavailable says why it
	// cannot be used (an instance reached by an IP address).
	PasskeysOn, PasskeysUnavailable bool
	Passkeys                        []PasskeyRow
	// AddPasskey is the "Add a passkey" form; PasskeyAdded names the
	// passkey just added.
	AddPasskey   Form
	PasskeyAdded string
}

// PasskeyRow is one passkey in Settings > Security.
type PasskeyRow struct {
	ID, Name string
	Created  Time
	// LastUsed is zero for a passkey never used.
	LastUsed Time
	// Confirm opens the question before removing it (without JavaScript).
	Confirm bool
}

// HasTwoFactor reports whether the person has a second factor: an
// authenticator app or a passkey.
func (s Security) HasTwoFactor() bool { return s.Enabled || len(s.Passkeys) > 0 }

// TOTPEnroll is what an authenticator app needs to add the account.
type TOTPEnroll struct {
	QR      string // PNG data: URL
	Secret  string // base32, in groups of four
	Account string
}

// RecoveryCodesText is the codes as a text file.
func (s Security) RecoveryCodesText() string {
	out := "Keygate recovery codes\n\nEach code signs you in once when you cannot use your passkey or authenticator app.\n\n"
	for _, c := range s.RecoveryCodes {
		out += c + "\n"
	}
	return out
}

// LoginVerify is the second step of a login.
type LoginVerify struct {
	Form Form
	// Recovery asks for a recovery code instead of the app's code; Passkey
	// offers the passkey.
	Recovery, Passkey bool
	// HasApp and HasPasskey say which other ways to offer.
	HasApp, HasPasskey bool
}
