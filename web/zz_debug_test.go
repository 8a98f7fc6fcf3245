package web_test

import (
	"testing"

	"github.com/chromedp/chromedp/kb"
)

func TestBrowserZZDebug(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	b.openCreateDialog()
	b.Fill("Name", "Deploy bot")
	b.submitCreateDialog("Deploy bot")
	b.closeKeyModal()
	b.Eval(`window.log=[]; ["keydown","keypress","keyup","click"].forEach(function(t){document.addEventListener(t,function(e){window.log.push(t+":"+e.key+":"+(e.target.textContent||"").slice(0,15)+":"+e.defaultPrevented)},true)}); document.getElementById("revoke-dialog").addEventListener("close",function(){window.log.push("close")}); true`, nil)
	revokeLink := KeyRow("Deploy bot") + `//a[normalize-space()="Revoke"]`
	b.TabTo(revokeLink, 20)
	b.Eval(`window.log=[]`, nil)
	b.Press(kb.Enter)
	var s []string
	b.Eval(`window.log`, &s)
	t.Log(s)
}
