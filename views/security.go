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
}

// TOTPEnroll is what an authenticator app needs to add the account.
type TOTPEnroll struct {
	QR      string // PNG data: URL
	Secret  string // base32, in groups of four
	Account string
}

// RecoveryCodesText is the codes as a text file.
func (s Security) RecoveryCodesText() string {
	out := "Keygate recovery codes\n\nEach code signs you in once when you cannot use your authenticator app.\n\n"
	for _, c := range s.RecoveryCodes {
		out += c + "\n"
	}
	return out
}

// LoginVerify is the second step of a login.
type LoginVerify struct {
	Form Form
	// Recovery asks for a recovery code instead of the app's code.
	Recovery bool
}
