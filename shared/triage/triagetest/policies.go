package triagetest

// The scenario's policy documents, as customers write them: raw C# expressions in
// attributes (nested quotes, &&, =>), {{named values}}, comments. Most are not
// well-formed XML, on purpose.

// shopGlobal is the shop service's global policy: CORS and a correlation id, no
// authentication.
const shopGlobal = `<!--
    IMPORTANT:
    - Policy elements can appear only within the <inbound>, <outbound>, <backend> section elements.
-->
<policies>
	<inbound>
		<cors allow-credentials="true">
			<allowed-origins>
				<origin>https://shop.contoso.com</origin>
				<origin>{{shop-preview-origin}}</origin>
			</allowed-origins>
			<allowed-methods preflight-result-max-age="300">
				<method>GET</method>
				<method>POST</method>
				<method>PUT</method>
			</allowed-methods>
			<allowed-headers><header>*</header></allowed-headers>
		</cors>
		<set-header name="X-Correlation-Id" exists-action="skip">
			<value>@(context.Request.Headers.GetValueOrDefault("X-Correlation-Id", context.RequestId.ToString()))</value>
		</set-header>
	</inbound>
	<backend>
		<forward-request timeout="60" />
	</backend>
	<outbound>
		<set-header name="X-Powered-By" exists-action="delete" />
		<set-header name="X-AspNet-Version" exists-action="delete" />
	</outbound>
	<on-error />
</policies>`

// partnerGlobal is the partner service's global policy: validate-jwt for every API
// whose chain keeps <base />.
const partnerGlobal = `<policies>
	<inbound>
		<validate-jwt header-name="Authorization" failed-validation-httpcode="401" failed-validation-error-message="@((string)context.LastError.Message)" require-expiration-time="true" require-signed-tokens="true">
			<openid-config url="https://login.microsoftonline.com/{{partner-tenant-id}}/v2.0/.well-known/openid-configuration" />
			<audiences>
				<audience>{{partner-api-audience}}</audience>
			</audiences>
			<issuers>
				<issuer>https://login.microsoftonline.com/{{partner-tenant-id}}/v2.0</issuer>
			</issuers>
		</validate-jwt>
		<set-variable name="partnerId" value="@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("azp", "unknown"))" />
	</inbound>
	<backend>
		<forward-request timeout="30" />
	</backend>
	<outbound />
	<on-error>
		<set-header name="X-Error-Reason" exists-action="override">
			<value>@(context.LastError?.Reason ?? "unknown")</value>
		</set-header>
	</on-error>
</policies>`

// starterProduct is APIM's default Starter product policy.
const starterProduct = `<policies>
	<inbound>
		<rate-limit calls="5" renewal-period="60" />
		<quota calls="100" renewal-period="604800" />
		<base />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// publicDocsProduct throttles the open product by caller address.
const publicDocsProduct = `<policies>
	<inbound>
		<base />
		<rate-limit-by-key calls="30" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault("X-Forwarded-For", context.Request.IpAddress).Split(',')[0])" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// partnersProduct gives each partner subscription a quota.
const partnersProduct = `<policies>
	<inbound>
		<base />
		<quota-by-key calls="100000" renewal-period="2592000" counter-key="@(context.Subscription?.Id ?? "anonymous")" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// jwtAPI validates a bearer token for every operation of the API.
const jwtAPI = `<policies>
	<inbound>
		<base />
		<validate-jwt header-name="Authorization" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized. Access token is missing or invalid." require-scheme="Bearer">
			<openid-config url="https://login.microsoftonline.com/{{shop-tenant-id}}/v2.0/.well-known/openid-configuration" />
			<audiences>
				<audience>api://{{shop-api-client-id}}</audience>
			</audiences>
			<required-claims>
				<claim name="roles" match="any">
					<value>Returns.ReadWrite</value>
					<value>Returns.Read</value>
				</claim>
			</required-claims>
		</validate-jwt>
		<set-variable name="customer" value="@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// invoicesAPI validates a token at API scope; one of its operations cannot be read.
const invoicesAPI = `<policies>
	<inbound>
		<base />
		<validate-jwt header-name="Authorization" failed-validation-httpcode="401" output-token-variable-name="jwt">
			<openid-config url="https://login.microsoftonline.com/{{shop-tenant-id}}/v2.0/.well-known/openid-configuration" />
			<audiences><audience>api://invoices</audience></audiences>
		</validate-jwt>
		<set-header name="X-Customer" exists-action="override">
			<value>@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("oid", ""))</value>
		</set-header>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// jwtOperation is an operation-level validate-jwt that keeps the API's chain.
const jwtOperation = `<policies>
	<inbound>
		<base />
		<validate-jwt header-name="Authorization" failed-validation-httpcode="401">
			<openid-config url="https://login.microsoftonline.com/{{shop-tenant-id}}/v2.0/.well-known/openid-configuration" />
			<audiences><audience>api://shipping</audience></audiences>
			<required-claims><claim name="scp" match="any" separator=" "><value>shipping.write</value><value>shipping.read</value></claim></required-claims>
		</validate-jwt>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// chooseAPI validates a token only for some requests: writes from partners.
const chooseAPI = `<policies>
	<inbound>
		<base />
		<choose>
			<when condition="@(context.Request.Method != "GET" && context.Request.Headers.ContainsKey("X-Partner"))">
				<validate-jwt header-name="Authorization" failed-validation-httpcode="401">
					<openid-config url="https://login.microsoftonline.com/{{shop-tenant-id}}/v2.0/.well-known/openid-configuration" />
					<audiences><audience>api://search</audience></audiences>
				</validate-jwt>
			</when>
			<otherwise>
				<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="public">
					<vary-by-query-parameter>q</vary-by-query-parameter>
				</cache-lookup>
			</otherwise>
		</choose>
	</inbound>
	<backend><base /></backend>
	<outbound>
		<base />
		<cache-store duration="@(context.Response.StatusCode == 200 ? 300 : 0)" />
	</outbound>
	<on-error><base /></on-error>
</policies>`

// aadTokenAPI validates an Entra ID token.
const aadTokenAPI = `<policies>
	<inbound>
		<base />
		<validate-azure-ad-token tenant-id="{{shop-tenant-id}}" header-name="Authorization" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized">
			<client-application-ids>
				<application-id>{{directory-client-app-id}}</application-id>
			</client-application-ids>
			<audiences><audience>api://directory</audience></audiences>
		</validate-azure-ad-token>
	</inbound>
	<backend><base /></backend>
	<outbound>
		<base />
		<set-body>@{
			var body = context.Response.Body.As<JObject>();
			foreach (var p in body.Properties().Where(p => p.Name == "mobilePhone" || p.Name == "employeeId").ToList()) { p.Remove(); }
			return body.ToString();
		}</set-body>
	</outbound>
	<on-error><base /></on-error>
</policies>`

// clientCertAPI requires a client certificate from the EDI partner.
const clientCertAPI = `<policies>
	<inbound>
		<base />
		<validate-client-certificate validate-revocation="true" validate-trust="true" validate-not-before="true" validate-not-after="true" ignore-error="false">
			<identities>
				<identity thumbprint="{{edi-partner-thumbprint}}" />
				<identity issuer-certificate-id="edi-partners-ca" />
			</identities>
		</validate-client-certificate>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// createOrderOperation transforms the body and keeps the chain.
const createOrderOperation = `<policies>
	<inbound>
		<base />
		<set-body>@{
			var order = context.Request.Body.As<JObject>(preserveContent: true);
			order["channel"] = context.Request.Headers.GetValueOrDefault("X-Channel", "web");
			order["lines"] = new JArray(((JArray)order["lines"]).Where(l => (int)l["qty"] > 0));
			return order.ToString();
		}</set-body>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// cachedOperation caches a read and keeps the chain.
const cachedOperation = `<policies>
	<inbound>
		<base />
		<cache-lookup vary-by-developer="true" vary-by-developer-groups="false">
			<vary-by-header>Accept</vary-by-header>
		</cache-lookup>
	</inbound>
	<backend><base /></backend>
	<outbound>
		<base />
		<cache-store duration="{{partner-cache-seconds}}" />
	</outbound>
	<on-error><base /></on-error>
</policies>`

// callbackOperation overrides the inbound section without <base />: the partner
// service's global validate-jwt never runs for it.
const callbackOperation = `<policies>
	<inbound>
		<set-header name="X-Carrier" exists-action="override">
			<value>@(context.Request.MatchedParameters.GetValueOrDefault("carrier", "unknown"))</value>
		</set-header>
		<rate-limit-by-key calls="50" renewal-period="60" counter-key="@(context.Request.IpAddress)" />
		<check-header name="X-Carrier-Signature" failed-check-httpcode="400" failed-check-error-message="missing signature" ignore-case="false" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// keepBaseAPI keeps the chain and adds a header.
const keepBaseAPI = `<policies>
	<inbound>
		<base />
		<set-header name="X-Api" exists-action="override"><value>@(context.Api.Name)</value></set-header>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// telemetryAPI drops the chain (no <base /> in inbound): the global validate-jwt does
// not run; the API relies on its subscription key.
const telemetryAPI = `<policies>
	<inbound>
		<set-backend-service base-url="https://ingest.{{partner-region}}.contoso.net" />
		<rate-limit-by-key calls="1000" renewal-period="60" counter-key="@(context.Subscription?.Key ?? context.Request.IpAddress)" />
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// webhooksAPI drops the chain, and its validate-jwt is commented out.
const webhooksAPI = `<policies>
	<inbound>
		<!-- TODO re-enable once every source signs its tokens
		<validate-jwt header-name="Authorization" failed-validation-httpcode="401">
			<openid-config url="https://login.microsoftonline.com/{{partner-tenant-id}}/v2.0/.well-known/openid-configuration" />
		</validate-jwt>
		-->
		<set-variable name="source" value="@(context.Request.MatchedParameters["source"])" />
		<ip-filter action="forbid">
			<address-range from="198.51.100.0" to="198.51.100.255" />
		</ip-filter>
	</inbound>
	<backend><base /></backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`

// maskingAPI masks personal data in responses (the remediation for sensitive exposure).
const maskingAPI = `<policies>
	<inbound>
		<base />
	</inbound>
	<backend><base /></backend>
	<outbound>
		<base />
		<choose>
			<when condition="@(context.Operation.Id == "list-staff" && context.Response.StatusCode == 200)">
				<set-body>@{
					var staff = context.Response.Body.As<JArray>();
					foreach (var p in staff.Children<JObject>()) { p["email"] = "***"; p["phone"] = "***"; p.Remove("nationalId"); }
					return staff.ToString();
				}</set-body>
			</when>
		</choose>
	</outbound>
	<on-error><base /></on-error>
</policies>`
